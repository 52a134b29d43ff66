// graphql-js against a running server: its full introspection query (every option on,
// as GraphiQL and code generators send it), the schema rebuilt from the answer, and that
// schema compared with schema.graphql, both printed by graphql-js in one canonical order.
//
//   node introspect.mjs <base url> <token> <schema.graphql>
import { readFileSync } from 'node:fs';
import {
  buildClientSchema, buildSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema,
} from 'graphql';

const [base, token, sdlPath] = process.argv.slice(2);
const query = getIntrospectionQuery({
  descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true,
  schemaDescription: true, inputValueDeprecation: true, oneOf: true,
});
const response = await fetch(`${base}/graphql`, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json',
    authorization: `Bearer ${token}`,
  },
  body: JSON.stringify({ query, operationName: 'IntrospectionQuery' }),
});
const body = await response.json();
if (response.status !== 200 || body.errors) {
  console.error(`introspection refused (${response.status}): ${JSON.stringify(body.errors)}`);
  process.exit(1);
}
// async-graphql 7 answers `__schema.description` with the description of the `__Schema`
// type itself ("A GraphQL Schema defines the capabilities…"), not the schema's (it has
// none, and its SDL prints none); everything else must match.
body.data.__schema.description = null;
const canonical = (schema) => printSchema(lexicographicSortSchema(schema));
const served = canonical(buildClientSchema(body.data));
const committed = canonical(buildSchema(readFileSync(sdlPath, 'utf8')));
if (served !== committed) {
  const a = served.split('\n');
  const b = committed.split('\n');
  const at = a.findIndex((line, i) => line !== b[i]);
  console.error(`schema.graphql differs from the served schema at line ${at + 1}:`);
  console.error(`  served:    ${a[at]}\n  committed: ${b[at]}`);
  process.exit(1);
}
const types = Object.keys(buildClientSchema(body.data).getTypeMap()).length;
console.log(JSON.stringify({ types, bytes: JSON.stringify(body).length }));
