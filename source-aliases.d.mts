/** Vite `resolve.alias` entries: each export of package.json to its source file under src/. */
export function sourceAliases(): { find: RegExp; replacement: string }[];
