// msa-memstore from Node.js: create a namespace, write, update, read, list, retrieve with a filter, stream a
// Query, delete. Stubs come from proto/memory.proto at run time (@grpc/proto-loader); no generated code.
//
//   npm install && node memory.js 127.0.0.1:50051 [token]
//
// Prints one JSON line per step, so a test (tests/test_node_example.py) can check what came back.
"use strict";

const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTO = path.join(__dirname, "..", "..", "proto", "memory.proto");
const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, defaults: true, oneofs: true });
const { MemoryService } = grpc.loadPackageDefinition(definition).msa.memory.v1;

const [target = "127.0.0.1:50051", token] = process.argv.slice(2);
const client = new MemoryService(target, grpc.credentials.createInsecure());
const metadata = new grpc.Metadata();
if (token) metadata.set("authorization", `Bearer ${token}`);

// One unary call as a promise; a failure carries the gRPC status name (e.g. NOT_FOUND).
function call(rpc, request) {
  return new Promise((resolve, reject) => {
    client[rpc](request, metadata, { deadline: Date.now() + 60_000 }, (err, response) => {
      if (err) reject(Object.assign(new Error(err.details), { code: grpc.status[err.code] }));
      else resolve(response);
    });
  });
}

// A streamed Query: the retrieval event, the answer's tokens, then the final event.
function query(request) {
  return new Promise((resolve, reject) => {
    const events = [];
    const stream = client.Query(request, metadata, { deadline: Date.now() + 60_000 });
    stream.on("data", (event) => events.push(event));
    stream.on("error", reject);
    stream.on("end", () => resolve(events));
  });
}

const show = (step, value) => console.log(JSON.stringify({ step, ...value }));

async function main() {
  const ns = "node-example";
  await call("CreateNamespace", { name: ns, description: "from Node.js" });
  const written = await call("Write", {
    namespace: ns,
    documents: [
      { id: "tea", text: "Ada prefers green tea in the morning.", metadata: { topic: "food" } },
      { id: "run", text: "Bo runs along the river on Sundays.", metadata: { topic: "sport" } },
    ],
  });
  show("write", { ids: written.results.map((r) => r.id), versions: written.results.map((r) => r.version) });
  const updated = await call("Update", { namespace: ns, id: "run", text: "Bo runs along the river on Saturdays." });
  show("update", { version: updated.version });
  const doc = await call("Get", { namespace: ns, id: "run" });
  show("get", { text: doc.text, version: doc.version });
  const listed = await call("List", { namespace: ns, metadata_filter: { topic: "food" } });
  show("list", { ids: listed.documents.map((d) => d.id) });
  const recalled = await call("Retrieve", {
    namespace: ns, query: "Who runs?", top_k: 2, include_text: true,
    filter: { metadata: [{ key: "topic", any_of: ["sport"] }] },
  });
  show("retrieve", { ids: recalled.documents.map((c) => c.id), texts: recalled.documents.map((c) => c.text) });
  const events = await query({ namespace: ns, query: "When does Bo run?", max_new_tokens: 4 });
  const final = events[events.length - 1].final;
  show("query", {
    kinds: [...new Set(events.map((e) => e.event))],
    tokens: events.filter((e) => e.event === "token").length,
    cited: final.citations.map((c) => c.id),
  });
  try {
    await call("Get", { namespace: ns, id: "missing" });
  } catch (err) {
    show("error", { code: err.code });
  }
  const deleted = await call("Delete", { namespace: ns, ids: ["tea"] });
  show("delete", { deleted: deleted.deleted });
  await call("DeleteNamespace", { name: ns });
  client.close();
}

main().catch((err) => {
  console.error(`${err.code || "ERROR"}: ${err.message}`);
  process.exit(1);
});
