import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The architecture, enforced: each folder of src/ may import only from folders earlier in
 * this list (and from itself).
 */
const LAYERS = [
  'core', 'wasm', 'observability', 'fits', 'astro', 'instruments', 'messages', 'storage', 'messaging',
  'registry', 'apdb', 'butler', 'pipeline', 'association', 'alerts', 'runtime', 'activator', 'tester', 'night', 'cli',
];
const layerRules = LAYERS.map((layer, i) => ({
  files: [`src/${layer}/**/*.ts`],
  // Tests may reach across layers (a pipeline test feeds it simulated raws).
  ignores: ['**/*.test.ts', '**/testing/**', '**/*.contract.ts'],
  rules: {
    'no-restricted-imports': ['error', {
      patterns: LAYERS.slice(i + 1).map((later) => ({
        regex: `^(\\.\\./)+${later}/`,
        message: `src/${layer} sits below src/${later} and may not import it (see the layer list in eslint.config.js)`,
      })),
    }],
  },
}));

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**', 'src/wasm/assembly/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...layerRules,
  {
    files: ['bin/**/*.js', 'src/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
