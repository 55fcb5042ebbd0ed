// Images out of the runtime: [-1, 1] tensors → bytes → make_grid-style grids → PNG files.
export { makeGrid, toUint8Images, type GridOptions, type ToUint8Options, type Uint8Image, type Uint8Images } from './grid.js';
export { encodePng, readPng, writePng, type PngOptions } from './png.js';
export { readPngText, withPngText } from './png-text.js';
