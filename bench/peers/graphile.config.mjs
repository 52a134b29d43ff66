// PostGraphile 5 as the benchmark's peer: the same database, the same application role,
// the same row-level-security policy and the same tokens as Custodian. It verifies the
// token (HS256, issuer and audience `custodian`) and pins the tenant for the request's
// transaction, as Custodian does; it records nothing (no ledger).
import jwt from "jsonwebtoken";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

const secret = process.env.BENCH_JWT_SECRET;

export default {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: Number(process.env.BENCH_POOL || 10) },
    }),
  ],
  grafast: {
    explain: false,
    context(requestContext) {
      const header = requestContext.node?.req?.headers?.authorization ?? "";
      const claims = jwt.verify(header.replace(/^Bearer /, ""), secret, {
        algorithms: ["HS256"],
        issuer: "custodian",
        audience: "custodian",
      });
      return { pgSettings: { "app.tenant_id": claims.tenant } };
    },
  },
  grafserv: { port: Number(process.env.PORT || 5678), host: "127.0.0.1", graphiql: false },
  schema: { retryOnInitFail: false },
};
