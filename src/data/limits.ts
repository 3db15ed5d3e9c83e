/** Bounds on sizes that come from users and files, so that absurd values fail with a message, not a crash. */

/** The largest model input side (height or width) and transform size accepted. */
export const MAX_INPUT_SIDE = 2048;

/**
 * The most pixels an image file may decode to (width x height): PIL's MAX_IMAGE_PIXELS
 * (89,478,485, about 9459 x 9459), past which Pillow warns of a decompression bomb. Larger files are
 * skipped and named in training and refused by predict.
 */
export const MAX_IMAGE_PIXELS = 89_478_485;
