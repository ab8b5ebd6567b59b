/**
 * Resource names shared by every messaging backend: topic and subscription IDs follow the
 * Google Pub/Sub rules, so a name that works with the embedded broker also works in production.
 */
import { InvalidInputError } from '../core/errors.ts';

/** Project used when a messaging URL names none. */
export const DEFAULT_PROJECT = 'local';

export type ResourceKind = 'topic' | 'subscription';

const ID_PATTERN = /^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;
const PROJECT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9.\-_]{0,99}$/;

export const ID_RULE =
  'an ID must be 3-255 characters, start with a letter, contain only letters, digits and - _ . ~ + %, and not start with "goog"';

/** Returns the ID unchanged, or throws InvalidInputError naming the bad name and the rule. */
export function checkResourceId(kind: ResourceKind, id: string): string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id) || id.toLowerCase().startsWith('goog')) {
    throw new InvalidInputError(`invalid ${kind} name ${JSON.stringify(id)}: ${ID_RULE}`);
  }
  return id;
}

export function checkProjectId(project: string): string {
  if (typeof project !== 'string' || !PROJECT_PATTERN.test(project)) {
    throw new InvalidInputError(
      `invalid project ${JSON.stringify(project)}: a project must be 1-100 characters of letters, digits, '.', '-' or '_'`,
    );
  }
  return project;
}

/** `projects/{project}/topics/{id}` or `projects/{project}/subscriptions/{id}`. */
export function resourcePath(project: string, kind: ResourceKind, id: string): string {
  return `projects/${project}/${kind}s/${id}`;
}

/**
 * Accepts a bare ID or a full resource path in `project`, and returns the ID.
 * A path in another project is refused: a client talks to one project.
 */
export function resourceId(kind: ResourceKind, name: string, project: string): string {
  if (typeof name === 'string' && name.startsWith('projects/')) {
    const parts = name.split('/');
    if (parts.length !== 4 || parts[2] !== `${kind}s`) {
      throw new InvalidInputError(
        `invalid ${kind} name ${JSON.stringify(name)}: expected projects/{project}/${kind}s/{id} or a bare ID`,
      );
    }
    if (parts[1] !== project) {
      throw new InvalidInputError(
        `${kind} ${JSON.stringify(name)} is in project ${JSON.stringify(parts[1])}, but this client uses project ${JSON.stringify(project)}`,
      );
    }
    return checkResourceId(kind, parts[3]);
  }
  return checkResourceId(kind, name);
}
