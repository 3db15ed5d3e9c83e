/**
 * sharp (libvips) as this package uses it: without libvips's operation cache. Every image is decoded
 * once per epoch and every chart rendered once, so the cache (up to 50 MB) would only hold memory.
 */
import sharp from 'sharp';

sharp.cache(false);

export default sharp;
