#!/usr/bin/env node
// The `prompt` command. Runs the TypeScript sources directly through tsx's loader,
// so child processes (broker, activators, tester) start the same way everywhere.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
