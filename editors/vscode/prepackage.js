// Copies what the .vsix ships from the repository: the JSON Schema the compiler generates.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
fs.copyFileSync(path.join(__dirname, '..', '..', 'schema', 'ldmc.schema.json'), path.join(__dirname, 'ldmc.schema.json'));
