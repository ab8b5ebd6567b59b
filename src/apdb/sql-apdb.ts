/**
 * The APDB over any SQL backend: creation, history, the detector-visit transaction, counts. The
 * backend is opened when first needed; every operation but create() first checks that the APDB
 * is there and of this schema version.
 */
import { ConfigError, InvalidInputError, NotFoundError, PromptError, TransientError, errorMessage } from '../core/errors.ts';
import type { Apdb, ApdbCounts, CreateResult } from './apdb.ts';
import type { ApdbBackend, ApdbDb, ApdbTableInfo } from './backend.ts';
import type { BackendMode } from './backends.ts';
import { stripPassword, type ApdbConfig } from './config.ts';
import { createTableStatements } from './ddl.ts';
import { readHistory } from './history.ts';
import { PHYSICAL_TABLES, T, physicalTable, type PhysicalTable } from './physical.ts';
import { APDB_HTM_LEVEL, APDB_HTM_MAX_RANGES, APDB_LOCK_HTM_LEVEL, lockTrixels, regionPolygon } from './region.ts';
import { encodeValue, prepareRows, readColumns, selectRows } from './rows.ts';
import { APDB_SCHEMA_NAME, APDB_SCHEMA_VERSION } from './schema/tables.ts';
import type { ApdbHistory, ApdbRegion, ApdbRow, ApdbValue, DetectorVisitKey, DetectorVisitRows, StoreResult } from './types.ts';
import { insertChunked, writeDetectorVisit } from './write.ts';

/** This implementation's version, recorded as `version:ApdbSql`. */
export const APDB_SQL_VERSION = '1.0.0';
export const METADATA_KEYS = { schemaVersion: 'version:schema', implVersion: 'version:ApdbSql', config: 'config:apdb-sql.json' } as const;

/** Attempts of a write transaction that failed to serialise (PostgreSQL 40001/40P01). */
const MAX_ATTEMPTS = 5;

/** Tables storeDetectorVisit keeps consistent; insertRows refuses them. */
const STORED_BY_VISIT = new Set(['DiaObject', 'DiaObjectLast', 'DiaSource', 'DiaForcedSource', 'DetectorVisitProcessingSummary', 'metadata']);

/** The JSON recorded as config:apdb-sql.json: the configuration used, without password. */
export function configJson(config: ApdbConfig): string {
  return JSON.stringify({
    db_url: stripPassword(config.dbUrl),
    namespace: config.namespace,
    isolation_level: config.isolationLevel,
    read_sources_months: config.readSourcesMonths,
    read_forced_sources_months: config.readForcedSourcesMonths,
    schema_name: APDB_SCHEMA_NAME,
    schema_version: APDB_SCHEMA_VERSION,
    dia_object_index: 'last_object_table',
    pixelization: { htm_level: APDB_HTM_LEVEL, htm_index_column: 'pixelId', htm_max_ranges: APDB_HTM_MAX_RANGES },
    lock_htm_level: APDB_LOCK_HTM_LEVEL,
  });
}

export class SqlApdb implements Apdb {
  readonly #config: ApdbConfig;
  readonly #url: string;
  readonly #open: (mode: BackendMode) => Promise<ApdbBackend>;
  #backend: Promise<ApdbBackend> | null = null;
  #ready: Promise<ApdbBackend> | null = null;
  #closed = false;

  constructor(config: ApdbConfig, url: string, open: (mode: BackendMode) => Promise<ApdbBackend>) {
    this.#config = config;
    this.#url = url;
    this.#open = open;
  }

  describe(): string {
    return this.#url;
  }

  #backendFor(mode: BackendMode): Promise<ApdbBackend> {
    if (this.#closed) return Promise.reject(new Error(`the APDB handle for ${this.#url} is closed`));
    if (!this.#backend) {
      const p = this.#open(mode);
      this.#backend = p;
      p.catch(() => {
        if (this.#backend === p) this.#backend = null;
      });
    }
    return this.#backend;
  }

  /** The backend of an existing APDB of this schema version. */
  #existing(): Promise<ApdbBackend> {
    if (!this.#ready) {
      const p = (async () => {
        const backend = await this.#backendFor('open');
        try {
          if (!(await backend.hasApdb(backend.db))) {
            throw new NotFoundError(`no APDB at ${backend.location}; create it with \`prompt make-apdb -c db_url=…\``);
          }
          const version = await readSchemaVersion(backend, backend.db);
          if (version !== APDB_SCHEMA_VERSION) throw wrongVersion(backend, version);
        } catch (e) {
          throw mapError(backend, e, 'opening the APDB at');
        }
        return backend;
      })();
      this.#ready = p;
      p.catch(() => {
        if (this.#ready === p) this.#ready = null;
      });
    }
    return this.#ready;
  }

  async create(): Promise<CreateResult> {
    const backend = await this.#backendFor('create');
    try {
      return await backend.writeTransaction(async (trx) => {
        await backend.prepareCreate(trx);
        if (await backend.hasApdb(trx)) {
          const version = await readSchemaVersion(backend, trx);
          if (version !== APDB_SCHEMA_VERSION) throw wrongVersion(backend, version);
          return { created: false, message: `an APDB already exists at ${backend.location} (schema ${APDB_SCHEMA_NAME} ${version}); nothing changed` };
        }
        for (const table of PHYSICAL_TABLES.values()) {
          for (const statement of createTableStatements(backend, table)) await statement.execute(trx);
        }
        const meta = [
          { name: METADATA_KEYS.schemaVersion, value: APDB_SCHEMA_VERSION },
          { name: METADATA_KEYS.implVersion, value: APDB_SQL_VERSION },
          { name: METADATA_KEYS.config, value: configJson(this.#config) },
        ];
        await trx.insertInto(backend.qualify(T.metadata.name)).values(meta).execute();
        return { created: true, message: `created the APDB at ${backend.location}: schema ${APDB_SCHEMA_NAME} ${APDB_SCHEMA_VERSION}, ApdbSql ${APDB_SQL_VERSION}, ${PHYSICAL_TABLES.size} tables` };
      });
    } catch (e) {
      throw mapError(backend, e, 'creating the APDB at');
    }
  }

  async history(region: ApdbRegion, visitMjdTai: number): Promise<ApdbHistory> {
    regionPolygon(region);
    checkTime(visitMjdTai);
    const backend = await this.#existing();
    try {
      return await backend.readTransaction((q) => readHistory(q, backend, this.#config, region, visitMjdTai));
    } catch (e) {
      throw mapError(backend, e, 'reading the history from the APDB at');
    }
  }

  async storeDetectorVisit(key: DetectorVisitKey, region: ApdbRegion, visitMjdTai: number, plan: (history: ApdbHistory) => DetectorVisitRows, known?: ApdbHistory): Promise<StoreResult> {
    if (typeof key?.visit !== 'bigint' || !Number.isInteger(key.detector)) {
      throw new InvalidInputError(`detector-visit key must be { visit: bigint, detector: integer }, got visit ${String(key?.visit)}, detector ${String(key?.detector)}`);
    }
    regionPolygon(region);
    checkTime(visitMjdTai);
    if (known !== undefined) checkKnown(known);
    const trixels = lockTrixels(region);
    const backend = await this.#existing();
    for (let attempt = 1; ; attempt++) {
      try {
        return await backend.writeTransaction(async (trx): Promise<StoreResult> => {
          await backend.lockRegion(trx, `${key.visit}:${key.detector}`, trixels);
          const done = await trx.selectFrom(backend.qualify(T.summary.name)).select('visit')
            .where('visit', '=', key.visit).where('detector', '=', key.detector).limit(1).execute();
          if (done.length > 0) {
            return { stored: false, reason: `visit ${key.visit}, detector ${key.detector} is already in the APDB at ${backend.location}` };
          }
          const history = await readHistory(trx, backend, this.#config, region, visitMjdTai, known);
          const rows = plan(history);
          await writeDetectorVisit(trx, backend, key, rows);
          return { stored: true, rows, history };
        });
      } catch (e) {
        if (attempt < MAX_ATTEMPTS && !(e instanceof PromptError) && backend.classifyError(e) === 'retry') continue;
        throw mapError(backend, e, `storing visit ${key.visit}, detector ${key.detector} in the APDB at`);
      }
    }
  }

  async counts(): Promise<ApdbCounts> {
    const backend = await this.#existing();
    const count = async (q: ApdbDb, table: PhysicalTable, currentOnly = false): Promise<number> => {
      let query = q.selectFrom(backend.qualify(table.name)).select((eb) => eb.fn.countAll<bigint | number | string>().as('n'));
      if (currentOnly) query = query.where('validityEndMjdTai', 'is', null);
      return Number((await query.executeTakeFirstOrThrow()).n);
    };
    try {
      return await backend.readTransaction(async (q) => ({
        diaObjects: await count(q, T.diaObject, true),
        diaSources: await count(q, T.diaSource),
        diaForcedSources: await count(q, T.diaForcedSource),
        detectorVisits: await count(q, T.summary),
      }));
    } catch (e) {
      throw mapError(backend, e, 'counting in the APDB at');
    }
  }

  async readTable(table: string, where: Readonly<Record<string, ApdbValue>> = {}): Promise<ApdbRow[]> {
    const t = knownTable(table);
    const conditions = Object.entries(where);
    for (const [k] of conditions) if (!t.byName.has(k)) throw new InvalidInputError(`${t.name} has no column '${k}'`);
    const backend = await this.#existing();
    // Checked and encoded as a row value would be.
    const bound = conditions.map(([k, v]) => [k, v === null ? null : encodeValue(backend, t.byName.get(k)!, v, `${t.name} condition`)] as const);
    try {
      return await backend.readTransaction(async (q) => {
        const columns = readColumns(t, true);
        let query = q.selectFrom(backend.qualify(t.name)).select(columns);
        for (const [k, v] of bound) query = v === null ? query.where(k, 'is', null) : query.where(k, '=', v);
        for (const c of t.spec.primaryKey) query = query.orderBy(c);
        return await selectRows(q, backend, t, columns, query);
      });
    } catch (e) {
      throw mapError(backend, e, `reading ${t.name} from the APDB at`);
    }
  }

  async insertRows(table: string, rows: readonly ApdbRow[]): Promise<number> {
    const t = knownTable(table);
    if (STORED_BY_VISIT.has(t.name)) {
      throw new InvalidInputError(`${t.name} is written by storeDetectorVisit (or create), which keeps it consistent; insertRows takes the other tables`);
    }
    const backend = await this.#existing();
    const encoded = prepareRows(backend, t, rows);
    try {
      await backend.writeTransaction((trx) => insertChunked(trx, backend, t, encoded, 'nothing'));
    } catch (e) {
      throw mapError(backend, e, `inserting into ${t.name} in the APDB at`);
    }
    return encoded.length;
  }

  async describeTable(table: string): Promise<ApdbTableInfo | null> {
    const backend = await this.#backendFor('open');
    try {
      return await backend.describeTable(backend.db, table);
    } catch (e) {
      throw mapError(backend, e, `describing ${table} in the APDB at`);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const b = this.#backend;
    this.#backend = null;
    this.#ready = null;
    if (b) await (await b.catch(() => null))?.close();
  }
}

function knownTable(name: string): PhysicalTable {
  if (!PHYSICAL_TABLES.has(name)) throw new InvalidInputError(`no APDB table '${name}' (tables: ${[...PHYSICAL_TABLES.keys()].join(', ')})`);
  return physicalTable(name);
}

function checkTime(mjd: number): void {
  if (typeof mjd !== 'number' || !Number.isFinite(mjd)) throw new InvalidInputError(`visit time must be a finite MJD (TAI), got ${String(mjd)}`);
}

/** A history to read less with: the shape history() returns. */
function checkKnown(known: ApdbHistory): void {
  const ok = known !== null && typeof known === 'object'
    && (['diaObjects', 'diaSources', 'diaForcedSources'] as const).every((k) => Array.isArray(known[k]));
  if (!ok) throw new InvalidInputError('the known history must be what history() returned: { diaObjects, diaSources, diaForcedSources }');
}

async function readSchemaVersion(backend: ApdbBackend, q: ApdbDb): Promise<string | null> {
  const r = await q.selectFrom(backend.qualify(T.metadata.name)).select('value').where('name', '=', METADATA_KEYS.schemaVersion).executeTakeFirst();
  return r && typeof r.value === 'string' ? r.value : null;
}

function wrongVersion(backend: ApdbBackend, version: string | null): ConfigError {
  return new ConfigError(
    version === null
      ? `the database at ${backend.location} has a metadata table without ${METADATA_KEYS.schemaVersion}: it is not an APDB this code can use`
      : `the APDB at ${backend.location} has schema version ${version}; this code reads and writes ${APDB_SCHEMA_NAME} ${APDB_SCHEMA_VERSION} only`,
  );
}

function mapError(backend: ApdbBackend, e: unknown, what: string): Error {
  if (e instanceof PromptError) return e;
  const where = `${what} ${backend.location}`;
  switch (backend.classifyError(e)) {
    case 'retry':
    case 'transient':
      return new TransientError(`${where}: ${errorMessage(e)}`, { cause: e });
    case 'config':
      return new ConfigError(`${where}: ${errorMessage(e)}`, { cause: e });
    default:
      return e instanceof Error ? e : new Error(String(e));
  }
}
