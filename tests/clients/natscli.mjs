#!/usr/bin/env node
// The `nats` CLI's syntax for the commands PAGI's docs use, each done by the official NATS JavaScript
// client (@nats-io/*) and nothing else: it parses arguments and calls the library. The real CLI is a Go
// binary this machine cannot install; the docs' recipes run through this front instead (tests/clients).
import { parseArgs } from "node:util";
import { connect, headers as newHeaders } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Svcm } from "@nats-io/services";

const USAGE = `usage: nats [--server URL] <command>
  pub SUBJECT BODY [-H K:V]...
  sub SUBJECT [--count N] [--raw]
  req SUBJECT BODY [-H K:V]... [--timeout SECONDS] [--raw]
  kv ls BUCKET | kv get BUCKET KEY [--raw]
  stream view STREAM [--subject S] | stream get STREAM SEQ | stream get STREAM --last-for S
  micro ls | micro info NAME | micro stats [NAME]   (each with --json)`;

const OPTIONS = {
  server: { type: "string", short: "s" },
  header: { type: "string", short: "H", multiple: true },
  count: { type: "string" },
  raw: { type: "boolean" },
  json: { type: "boolean" },
  subject: { type: "string" },
  "last-for": { type: "string" },
  timeout: { type: "string" },
};

function fail(message) {
  process.stderr.write(`nats: error: ${message}\n`);
  process.exit(1);
}

function log(message) {
  // The CLI logs its progress on stderr with a time of day, and prints only data on stdout.
  process.stderr.write(`${new Date().toTimeString().slice(0, 8)} ${message}\n`);
}

// `nats://user:password@host:port` as pagi.env writes it; the JS client takes the credentials apart.
function connectionOptions(server) {
  const url = new URL(server.includes("://") ? server : `nats://${server}`);
  const options = { servers: `${url.hostname}:${url.port || 4222}`, name: "natscli.mjs" };
  if (url.username) {
    options.user = decodeURIComponent(url.username);
    options.pass = decodeURIComponent(url.password);
  }
  return options;
}

function parseHeaders(pairs) {
  if (!pairs?.length) return undefined;
  const h = newHeaders();
  for (const pair of pairs) {
    const at = pair.indexOf(":");
    if (at < 1) fail(`invalid header ${JSON.stringify(pair)}: expected KEY:VALUE`);
    h.append(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
  }
  return h;
}

function need(args, count, what) {
  if (args.filter((a) => a !== undefined && a !== "").length < count) fail(`${what}\n${USAGE}`);
}

const text = new TextDecoder();
const out = (s) => process.stdout.write(s);

function printHeaders(h) {
  if (!h) return;
  for (const [key, values] of h) for (const value of values) out(`${key}: ${value}\n`);
}

async function pub(nc, [subject, body = ""], values) {
  need([subject], 1, "pub needs a SUBJECT");
  nc.publish(subject, body, { headers: parseHeaders(values.header) });
  await nc.flush();
  log(`Published ${Buffer.byteLength(body)} bytes to ${JSON.stringify(subject)}`);
}

async function sub(nc, [subject], values) {
  need([subject], 1, "sub needs a SUBJECT");
  const count = values.count === undefined ? 0 : Number(values.count);
  if (!Number.isInteger(count) || count < 0) fail(`--count must be a whole number, not ${values.count}`);
  const subscription = nc.subscribe(subject, count ? { max: count } : {});
  await nc.flush();
  log(`Subscribing on ${subject}`);
  let n = 0;
  for await (const m of subscription) {
    n += 1;
    if (values.raw) {
      out(`${m.string()}\n`);
      continue;
    }
    out(`[#${n}] Received on ${JSON.stringify(m.subject)}${m.reply ? ` with reply ${JSON.stringify(m.reply)}` : ""}\n`);
    printHeaders(m.headers);
    out(`\n${m.string()}\n\n`);
  }
}

async function req(nc, [subject, body = ""], values) {
  need([subject], 1, "req needs a SUBJECT");
  const timeout = Number(values.timeout ?? 2) * 1000;
  log(`Sending request on ${JSON.stringify(subject)}`);
  const started = Date.now();
  const m = await nc.request(subject, body, { timeout, headers: parseHeaders(values.header) });
  log(`Received with rtt ${Date.now() - started}ms`);
  if (!values.raw) printHeaders(m.headers);
  if (!values.raw && m.headers) out("\n");
  out(`${m.string()}\n`);
}

async function kv(nc, [verb, bucket, key], values) {
  need([verb, bucket], 2, "kv needs ls BUCKET or get BUCKET KEY");
  const store = await new Kvm(nc).open(bucket);
  if (verb === "ls") {
    for await (const k of await store.keys()) out(`${k}\n`);
  } else if (verb === "get") {
    need([key], 1, "kv get needs BUCKET KEY");
    const entry = await store.get(key);
    if (!entry || entry.operation !== "PUT") fail(`nats: key not found: ${key}`);
    if (values.raw) {
      out(entry.string());
      return;
    }
    out(`${bucket} > ${key} revision: ${entry.revision} created @ ${entry.created.toUTCString()}\n\n`);
    out(`${entry.string()}\n`);
  } else fail(`unknown kv command ${JSON.stringify(verb)}\n${USAGE}`);
}

function printStored(stream, m) {
  out(`[${m.seq}] Subject: ${m.subject} Received: ${m.time.toISOString()}\n`);
  if (m.header) {
    out("\n");
    printHeaders(m.header);
  }
  out(`\n${text.decode(m.data)}\n\n`);
}

async function stream(nc, [verb, name, seq], values) {
  need([verb, name], 2, "stream needs view STREAM or get STREAM SEQ");
  if (verb === "view") {
    const js = jetstream(nc);
    const filter = values.subject ? { filter_subjects: [values.subject] } : {};
    const consumer = await js.consumers.get(name, filter);
    if ((await consumer.info(true)).num_pending === 0) {
      log("Reached apparent end of data");
      return;
    }
    for await (const m of await consumer.consume()) {
      printStored(name, { seq: m.seq, subject: m.subject, time: new Date(m.info.timestampNanos / 1e6), header: m.headers, data: m.data });
      if (m.info.pending === 0) break;
    }
    log("Reached apparent end of data");
  } else if (verb === "get") {
    const jsm = await jetstreamManager(nc);
    const query = values["last-for"] ? { last_by_subj: values["last-for"] } : { seq: Number(seq) };
    if (!values["last-for"] && !Number.isInteger(query.seq)) fail("stream get needs a sequence or --last-for SUBJECT");
    const m = await jsm.streams.getMessage(name, query);
    if (!m) fail(`no message found in ${name} for ${JSON.stringify(query)}`);
    out(`Item: ${name}#${m.seq} received ${m.time.toISOString()} on Subject ${m.subject}\n`);
    printStored(name, m);
  } else fail(`unknown stream command ${JSON.stringify(verb)}\n${USAGE}`);
}

// Every answer to a discovery request; none at all (the server says "no responders") is an empty list.
async function collect(iterator) {
  const found = [];
  try {
    for await (const item of await iterator) found.push(item);
  } catch (error) {
    if (!/no responders/i.test(String(error?.message ?? error))) throw error;
  }
  return found;
}

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const r of rows) out(`${r.map((c, i) => String(c).padEnd(widths[i])).join("  ").trimEnd()}\n`);
}

async function micro(nc, [verb, name], values) {
  need([verb], 1, "micro needs ls, info NAME or stats [NAME]");
  const client = new Svcm(nc).client();
  const byName = (a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
  if (verb === "ls") {
    const found = (await collect(client.ping(name))).sort(byName);
    if (values.json) return out(`${JSON.stringify(found, null, 2)}\n`);
    if (!found.length) return log("No services found");
    table([["Name", "Version", "ID", "Instance"], ...found.map((s) => [s.name, s.version, s.id, s.metadata?.instance ?? ""])]);
  } else if (verb === "info") {
    need([name], 1, "micro info needs a service NAME");
    const found = (await collect(client.info(name))).sort(byName);
    if (!found.length) fail(`no micro service named ${JSON.stringify(name)} answered`);
    if (values.json) return out(`${JSON.stringify(found, null, 2)}\n`);
    for (const s of found) {
      out(`Service Information\n\n  Name: ${s.name}\n  Version: ${s.version}\n  ID: ${s.id}\n  Description: ${s.description}\n`);
      out(`\nMetadata:\n\n`);
      for (const [k, v] of Object.entries(s.metadata ?? {})) out(`  ${k}: ${v}\n`);
      out(`\nEndpoints:\n\n`);
      for (const e of s.endpoints ?? []) out(`  ${e.name}: ${e.subject}${e.queue_group ? ` (queue group ${e.queue_group})` : ""}\n`);
      out("\n");
    }
  } else if (verb === "stats") {
    const found = (await collect(client.stats(name))).sort(byName);
    if (values.json) return out(`${JSON.stringify(found, null, 2)}\n`);
    if (!found.length) return log("No services found");
    const rows = [["Name", "ID", "Endpoint", "Requests", "Errors"]];
    for (const s of found) for (const e of s.endpoints ?? []) rows.push([s.name, s.id, e.name, e.num_requests, e.num_errors]);
    table(rows);
  } else fail(`unknown micro command ${JSON.stringify(verb)}\n${USAGE}`);
}

const COMMANDS = { pub, sub, req, kv, stream, micro };

async function main() {
  let parsed;
  try {
    parsed = parseArgs({ args: process.argv.slice(2), options: OPTIONS, allowPositionals: true });
  } catch (error) {
    fail(`${error.message}\n${USAGE}`);
  }
  const [command, ...rest] = parsed.positionals;
  const run = COMMANDS[command];
  if (!run) fail(`unknown command ${JSON.stringify(command ?? "")}\n${USAGE}`);
  const server = parsed.values.server ?? process.env.NATS_URL ?? "nats://127.0.0.1:4222";
  const nc = await connect(connectionOptions(server));
  const stop = () => nc.close().finally(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  try {
    await run(nc, rest, parsed.values);
  } finally {
    await nc.close();
  }
}

main().catch((error) => fail(error.message ?? String(error)));
