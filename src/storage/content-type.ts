/** The content type a bucket records for an object, from its key (FITS raws and products, JSON sidecars). */
export function contentTypeFor(key: string): string {
  if (key.endsWith('.fz') || key.endsWith('.fits')) return 'image/fits';
  if (key.endsWith('.json')) return 'application/json';
  return 'application/octet-stream';
}
