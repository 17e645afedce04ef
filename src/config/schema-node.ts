/** A read-only view of the JSON Schema that TypeBox builds, for error messages and environment conversion. */
export interface SchemaNode {
  type?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  pattern?: string;
  const?: unknown;
  anyOf?: SchemaNode[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

/** The sub-schema at `path` (object keys and array indexes), or undefined when the path leaves the schema. */
export function schemaAt(root: SchemaNode, path: readonly string[]): SchemaNode | undefined {
  let node: SchemaNode | undefined = root;
  for (const segment of path) {
    if (node === undefined) return undefined;
    if (node.type === 'array') node = node.items;
    else node = node.properties?.[segment];
  }
  return node;
}

/** What a value must be, in words: `an integer 0..65535`, `one of "sqlite", "memory"`. */
export function describeSchema(node: SchemaNode): string {
  if (node.anyOf !== undefined && node.anyOf.every((option) => option.const !== undefined)) {
    return `one of ${node.anyOf.map((option) => JSON.stringify(option.const)).join(', ')}`;
  }
  switch (node.type) {
    case 'integer':
      return `an integer ${String(node.minimum ?? '')}..${String(node.maximum ?? '')}`;
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'string': {
      const length =
        node.minLength === undefined || node.minLength === 0
          ? 'a string'
          : node.minLength === 1
            ? 'a non-empty string'
            : `a string of at least ${String(node.minLength)} characters`;
      return node.pattern === undefined ? length : `${length} matching /${node.pattern}/`;
    }
    case 'array':
      return 'an array';
    case 'object':
      return 'an object';
    default:
      return 'valid';
  }
}
