/** `T` with its possibly-undefined fields made optional (and never undefined). */
export type Defined<T> = { [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
};

/**
 * `fields` without those that are undefined. With `exactOptionalPropertyTypes` an optional
 * field is absent rather than undefined; one call says so for many fields at once.
 * @example { workflowId, ...defined({ memo, retry }) }
 */
export function defined<T extends object>(fields: T): Defined<T> {
  const out: Record<string, unknown> = {};
  for (const key in fields) if (fields[key] !== undefined) out[key] = fields[key];
  return out as Defined<T>;
}
