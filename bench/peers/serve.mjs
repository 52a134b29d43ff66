// PostGraphile 5 served as the benchmark's peer, in BENCH_WORKERS Node processes sharing
// one port (node:cluster; Node runs JavaScript on one thread, so one process uses one
// core at most). The benchmark tries one and two and keeps the faster: the peer's
// best-tuned figure on this machine.
import cluster from "node:cluster";
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import preset from "./graphile.config.mjs";

const workers = Number(process.env.BENCH_WORKERS || 1);

if (cluster.isPrimary && workers > 1) {
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on("exit", () => process.exit(1));
} else {
  const pgl = postgraphile(preset);
  const serv = pgl.createServ(grafserv);
  const server = createServer();
  serv.addTo(server).then(() => {
    server.listen(preset.grafserv.port, preset.grafserv.host);
  });
}
