// Images out of the runtime: [-1, 1] tensors → bytes → make_grid-style grids → PNG files.
export { makeGrid, toUint8Images, type GridOptions, type Uint8Image, type Uint8Images } from './grid.js';
export { encodePng, readPng, writePng } from './png.js';
