// PostGraphile 4 served as the benchmark's second peer, like PostGraphile 5 (../peers/):
// the same database, the same application role, the same row-level-security policy and
// the same tokens. It verifies the token (HS256, issuer and audience `custodian`) and pins
// the tenant for the request's transaction (`pgSettings`), as Custodian does; it records
// nothing. BENCH_WORKERS Node processes share one port (node:cluster), each with a pool of
// BENCH_POOL connections.
import cluster from "node:cluster";
import { createServer } from "node:http";
import jwt from "jsonwebtoken";
import pg from "pg";
import postgraphile4 from "postgraphile";

const workers = Number(process.env.BENCH_WORKERS || 1);
const secret = process.env.BENCH_JWT_SECRET;

if (cluster.isPrimary && workers > 1) {
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on("exit", () => process.exit(1));
} else {
  const pool = new pg.Pool({
    connectionString: process.env.DATABASE_URL,
    max: Number(process.env.BENCH_POOL || 10),
  });
  const middleware = postgraphile4.postgraphile(pool, "public", {
    pgSettings: (req) => {
      const header = req.headers.authorization ?? "";
      const claims = jwt.verify(header.replace(/^Bearer /, ""), secret, {
        algorithms: ["HS256"],
        issuer: "custodian",
        audience: "custodian",
      });
      return { "app.tenant_id": claims.tenant };
    },
    graphiql: false,
    disableQueryLog: true,
    retryOnInitFail: false,
    dynamicJson: true,
    setofFunctionsContainNulls: false,
    legacyRelations: "omit",
  });
  createServer(middleware).listen(Number(process.env.PORT || 5679), "127.0.0.1");
}
