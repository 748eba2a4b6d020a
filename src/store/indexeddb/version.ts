/**
 * The schema this build writes. Bump it, add an `if (oldVersion < N)` step to migrate, and make
 * new databases at the new schema (see `upgrade` in schema.ts). A module of its own, so that
 * naming it does not bring `idb`'s DOM-typed declarations into a Node program's types.
 */
export const SCHEMA_VERSION = 4;
