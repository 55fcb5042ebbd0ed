export { writeAtomic } from '../runtime/util/atomic.js';
