export { CosmicRayConfig, makeCosmicRayConfig, psfRatios, runCosmicRays } from './cosmic-rays.ts';
export type { CosmicRayConfigInput, CosmicRayInput, CosmicRayOptions, CosmicRayResult, PsfRatios } from './cosmic-rays.ts';
