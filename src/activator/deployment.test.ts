/**
 * The container images and service manifests in deploy/ against what the activator reads: every
 * variable they set is one the activator knows, every required one is set, and the serving
 * settings are the playbook's (one request per container, 600 s timeout, autoscaling bounds).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { INSTRUMENT_NAMES } from '../instruments/index.ts';
import { ACTIVATOR_ENV_VARS, activatorConfigFromEnv, instrumentFromSetting, REQUIRED_ACTIVATOR_ENV_VARS } from './config.ts';

const deploy = (p: string): string => fileURLToPath(new URL(`../../deploy/${p}`, import.meta.url));

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
interface Container {
  image: string;
  env?: EnvVar[];
  command?: string[];
  args?: string[];
}
interface PodSpec {
  containerConcurrency?: number;
  timeoutSeconds?: number;
  containers: Container[];
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { template: { metadata?: { annotations?: Record<string, string> }; spec: PodSpec } };
}

function manifests(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(deploy(file), 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as Manifest;
  });
}

function dockerfile(file: string): Array<{ instruction: string; args: string }> {
  const text = readFileSync(deploy(file), 'utf8').replace(/\\\n/g, ' ');
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([A-Z]+)\s+(.*)$/.exec(l);
      if (!m) throw new Error(`${file}: cannot parse '${l}'`);
      return { instruction: m[1], args: m[2] };
    });
}

describe('deployment: containers and manifests (deploy/)', () => {
  for (const [file, autoscale] of [
    ['cloud-run/service.yaml', ['autoscaling.knative.dev/minScale', 'autoscaling.knative.dev/maxScale']],
    ['knative/service.yaml', ['autoscaling.knative.dev/min-scale', 'autoscaling.knative.dev/max-scale']],
  ] as const) {
    it(`${file}: one request per container, 600 s, autoscaling bounds, and only variables the activator reads`, () => {
      const svc = manifests(file).find((m) => m.kind === 'Service');
      if (!svc) throw new Error(`${file} has no Service`);
      expect(svc.apiVersion).toBe('serving.knative.dev/v1');
      const spec = svc.spec.template.spec;
      expect(spec.containerConcurrency).toBe(1);
      expect(spec.timeoutSeconds).toBe(600);
      const ann = svc.spec.template.metadata?.annotations ?? {};
      const [lo, hi] = autoscale.map((k) => Number(ann[k]));
      expect(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && hi >= Math.max(lo, 1)).toBe(true);
      expect(spec.containers).toHaveLength(1);
      const env = spec.containers[0].env ?? [];
      const names = env.map((e) => e.name);
      expect(names.filter((n) => !ACTIVATOR_ENV_VARS.includes(n))).toEqual([]);
      expect(REQUIRED_ACTIVATOR_ENV_VARS.filter((n) => !names.includes(n))).toEqual([]);
      // The platform sets PORT.
      expect(names).not.toContain('PORT');
      // With the secret's value filled in, the activator accepts the configuration as it is.
      const values = Object.fromEntries(env.map((e) => [e.name, e.value ?? 'from-a-secret']));
      const cfg = activatorConfigFromEnv(values);
      expect(INSTRUMENT_NAMES).toContain(cfg.instrument);
      expect(cfg.instrument).toBe(instrumentFromSetting(values.RUBIN_INSTRUMENT));
    });
  }

  it('knative/service.yaml: a KafkaSource feeds nextVisit records to the service', () => {
    const src = manifests('knative/service.yaml').find((m) => m.kind === 'KafkaSource') as unknown as {
      spec: { topics: string[]; sink: { ref: { kind: string; name: string }; uri: string } };
    };
    expect(src.spec.topics).toContain('lsst.sal.ScriptQueue.logevent_nextVisit');
    expect(src.spec.sink.ref).toMatchObject({ kind: 'Service', name: 'prompt-processing' });
    expect(src.spec.sink.uri).toMatch(/^\/next-visit\?token=/);
  });

  it('kubernetes/tester-job.yaml: runs the tester as a non-root Job with a valid command line', () => {
    const job = manifests('kubernetes/tester-job.yaml')[0] as unknown as {
      kind: string;
      spec: { template: { spec: { restartPolicy: string; securityContext: { runAsNonRoot: boolean }; containers: Container[] } } };
    };
    expect(job.kind).toBe('Job');
    const pod = job.spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.restartPolicy).toBe('Never');
    const c = pod.containers[0];
    expect(c.command).toEqual(['node', 'bin/prompt.js']);
    const args = c.args ?? [];
    expect(args[0]).toBe('upload');
    expect(INSTRUMENT_NAMES).toContain(args[1]);
    expect(Number.isInteger(Number(args[2]))).toBe(true);
    // Every $(VAR) the arguments use is defined in the container's environment.
    const defined = new Set((c.env ?? []).map((e) => e.name));
    for (const m of args.join(' ').matchAll(/\$\(([A-Z_]+)\)/g)) expect(defined.has(m[1])).toBe(true);
  });

  it('the service image runs the activator as a non-root user with unbuffered JSON logs; the base holds only dependencies', () => {
    const svc = dockerfile('service/Dockerfile');
    const from = svc.find((i) => i.instruction === 'FROM');
    expect(from?.args).toMatch(/BASE_IMAGE/);
    const user = svc.filter((i) => i.instruction === 'USER').at(-1);
    expect(user && user.args !== 'root' && user.args !== '0').toBe(true);
    expect(svc.at(-1)).toEqual({ instruction: 'CMD', args: '["node", "bin/prompt.js", "activator"]' });
    const envLine = svc.filter((i) => i.instruction === 'ENV').map((i) => i.args).join(' ');
    for (const m of envLine.matchAll(/([A-Z_]+)=/g)) expect(ACTIVATOR_ENV_VARS.includes(m[1]) || m[1] === 'NODE_ENV').toBe(true);
    const base = dockerfile('base/Dockerfile');
    expect(base.filter((i) => i.instruction === 'FROM').every((i) => /node:20/.test(i.args))).toBe(true);
    expect(base.some((i) => i.instruction === 'RUN' && /npm ci --omit=dev/.test(i.args))).toBe(true);
    expect(base.some((i) => i.instruction === 'COPY' && /\bsrc\b/.test(i.args))).toBe(false);
  });
});
