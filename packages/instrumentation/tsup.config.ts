import { defineConfig } from 'tsup';

// ESM for `import`/`--import`, CommonJS for `require`/`-r`: both from one source.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node22',
  shims: true,
  splitting: false,
});
