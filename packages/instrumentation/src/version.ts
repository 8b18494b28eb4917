/** Instrumentation scope of every Tokenmeter instrumentation (one meter, so metric names never collide). */
export const PACKAGE_NAME = '@tokenmeter/instrumentation';
export const PACKAGE_VERSION = '0.1.0';
