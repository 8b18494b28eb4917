import { defineConfig } from 'tsup';

// `config` is its own entry so `tokenmeter generate|check` read the config without the SDK.
// `register` exists twice on purpose: the ESM one also installs the import hook, which only an
// `--import`ed (or first-line imported) module can do; the CommonJS one serves `-r`.
export default defineConfig({
  entry: ['src/index.ts', 'src/register.ts', 'src/register-cjs.ts', 'src/config.ts'],
  format: ['esm', 'cjs'],
  dts: { entry: ['src/index.ts', 'src/config.ts'] },
  sourcemap: true,
  clean: true,
  target: 'node22',
  shims: true,
  splitting: false,
});
