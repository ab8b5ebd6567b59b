/**
 * Union-find over provisional labels in an Int32Array (`parent[l] === l` for a root), as the
 * connected-component labelling of detection uses it: path compression on find, and the smaller
 * label kept as the root on union so that a component's root is its first label.
 */
export function findRoot(parent: Int32Array, l: number): number {
  let root = l;
  while (parent[root] !== root) root = parent[root];
  while (parent[l] !== root) {
    const next = parent[l];
    parent[l] = root;
    l = next;
  }
  return root;
}

/** Joins the components of a and b; returns the root kept (the smaller). */
export function unionRoots(parent: Int32Array, a: number, b: number): number {
  const ra = findRoot(parent, a);
  const rb = findRoot(parent, b);
  if (ra === rb) return ra;
  if (ra < rb) {
    parent[rb] = ra;
    return ra;
  }
  parent[ra] = rb;
  return rb;
}
