export type { TanWcs } from './tan-wcs.ts';
export { makeTanWcs, pixelToSky, skyToPixel, tanWcsCards, tanWcsFromHeader, separationArcsec, tangentFrame, projectUnit, deprojectUnit } from './tan-wcs.ts';
export type { Vec3 } from './sphere.ts';
export { unitVector, lonLatDeg, angleBetween, orientation } from './sphere.ts';
export type { ConvexPolygon } from './spherical-polygon.ts';
export { convexPolygon, polygonContains, polygonLonLat } from './spherical-polygon.ts';
export type { HtmRange, Trixel } from './htm.ts';
export {
  HTM_MAX_LEVEL,
  htmCoverCircle,
  htmCoverCircleRanges,
  htmCoverPolygon,
  htmCoverPolygonRanges,
  htmId,
  htmIdOfVector,
  htmLevel,
  htmName,
  htmRanges,
  htmTrixel,
  htmTrixelCorners,
} from './htm.ts';
export type { PatchInfo, PatchRecord, PixelBox, SkyPolygon, SkymapConfig, SkymapRecord, TractInfo, TractRecord } from './skymap.ts';
export { DEFAULT_SKYMAP_CONFIG, makeSkymap, Skymap, skymapHash } from './skymap.ts';
export type { Boresight, DetectorPlacement } from './footprint.ts';
export { placementFootprint, placementWcs, wcsFootprint } from './footprint.ts';
