import type { BuildEnvironmentOptions } from 'vite';
export declare const minify: 'terser';
export declare const terserOptions: NonNullable<BuildEnvironmentOptions['terserOptions']>;
