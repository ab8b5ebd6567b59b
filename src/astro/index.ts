export type { TanWcs } from './tan-wcs.ts';
export { makeTanWcs, pixelToSky, skyToPixel, tanWcsCards, tanWcsFromHeader, separationArcsec } from './tan-wcs.ts';
