// YAML (and so JSON) as plans and gateway configs are written, parsed so hostile text cannot hang
// the parser: a 1 KB document whose anchor refers to itself through nested aliases took YAML.parse
// 17 s (the cost grows ~10x per doubling of depth). Such self-references are refused before
// converting; other aliases stay bounded by maxAliasCount (alias bombs).
import YAML from 'yaml';

export const MAX_YAML_BYTES = 1 << 20;

/** Parses one YAML/JSON document to plain values. Throws an Error whose message says why not. */
export function parseYaml(text: string): unknown {
  if (text.length > MAX_YAML_BYTES) throw new Error(`is larger than ${MAX_YAML_BYTES} bytes`);
  // Warnings (unknown tags) become no console noise.
  const doc = YAML.parseDocument(text, { logLevel: 'error' });
  if (doc.errors.length > 0) throw new Error(doc.errors[0].message);
  let recursive: string | undefined;
  YAML.visit(doc, {
    Alias(_key, node, path) {
      if (path.some((p) => YAML.isNode(p) && p.anchor === node.source)) {
        recursive = node.source;
        return YAML.visit.BREAK;
      }
      return undefined;
    },
  });
  if (recursive !== undefined) throw new Error(`alias *${recursive} refers to its own anchor`);
  return doc.toJS({ maxAliasCount: 100 });
}
