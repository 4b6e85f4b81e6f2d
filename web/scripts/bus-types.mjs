// The bus shapes as TypeScript: reads the JSON Schema document `python -m bus_schemas ui-schema` writes
// and prints src/generated/bus.ts. `make ui-types` runs both; tests/test_ui_types.py fails when the
// committed file differs from what this prints.
import { readFileSync } from "node:fs";
import { compile } from "json-schema-to-typescript";

// usage: python -m bus_schemas ui-schema | node scripts/bus-types.mjs [SCHEMA.json] > src/generated/bus.ts
const [schemaPath] = process.argv.slice(2);
const schema = JSON.parse(readFileSync(schemaPath ?? 0, "utf8")); // 0: standard input
const banner = [
  "// Generated from bus_schemas (python -m bus_schemas ui-schema) by scripts/bus-types.mjs: do not edit.",
  "// `make ui-types` writes it again; tests/test_ui_types.py fails when it is out of date.",
].join("\n");
const ts = await compile(schema, schema.title, {
  bannerComment: banner,
  unreachableDefinitions: true, // every named shape, not only the root's
  additionalProperties: false, // a model's extra keys are not part of its type
});
process.stdout.write(ts);
