// The Probot peer's HTTP server: Probot 14's createNodeMiddleware on node:http, as Probot documents it.
//
// Environment: PORT, APP_ID, PRIVATE_KEY, WEBHOOK_SECRET (read by createProbot), JOB_REDIS_URL (the
// Redis jobs go to; not REDIS_URL, which Probot would take for its own rate-limit clustering).
// Probot answers a verified delivery with 200 "ok" once the handler's promise settled, 400/401 when
// it is malformed or forged, 500 when the handler threw. GET /healthz answers 200 for the launcher.
import { createServer } from "node:http";

import { Redis } from "ioredis";
import { createNodeMiddleware, createProbot } from "probot";

import { makeApp } from "./app.js";

const port = Number(process.env.PORT ?? 3000);
const redis = new Redis(process.env.JOB_REDIS_URL ?? "redis://127.0.0.1:6379/0");
const middleware = await createNodeMiddleware(makeApp(redis), { probot: createProbot() });

const server = createServer((request, response) => {
  middleware(request, response, () => {
    response.writeHead(request.url === "/healthz" ? 200 : 404).end();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1");

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close();
    redis.disconnect();
    process.exit(0);
  });
}
