// The same request as code, for curl and the official fal clients pointed at this server (server/README.md,
// "Using the official clients"). The key is never written into a snippet: it is read from $FAL_KEY.

function shellQuote(s) {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function py(v, indent = "") {
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return JSON.stringify(v);
  const inner = indent + "    ";
  if (Array.isArray(v)) return v.length ? `[\n${v.map((x) => inner + py(x, inner)).join(",\n")},\n${indent}]` : "[]";
  const e = Object.entries(v);
  return e.length ? `{\n${e.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${py(x, inner)}`).join(",\n")},\n${indent}}` : "{}";
}

function java(v, indent = "") {
  if (v === null || v === undefined) return "null";
  if (typeof v === "boolean") return String(v);
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : `${v}`;
  if (typeof v === "string") return JSON.stringify(v);
  const inner = indent + "        ";
  if (Array.isArray(v)) return `List.of(${v.map((x) => java(x, inner)).join(", ")})`;
  const e = Object.entries(v);
  return `Map.ofEntries(\n${e.map(([k, x]) => `${inner}Map.entry(${JSON.stringify(k)}, ${java(x, inner)})`).join(",\n")})`;
}

/** {language: code} for a request to `endpoint` with body `input`, on the server at `base`. */
export function snippets(base, endpoint, input) {
  const body = JSON.stringify(input, null, 2);
  const app = endpoint.split("/").slice(0, 2).join("/");
  const jsInput = body.replace(/\n/g, "\n  ");
  const host = new URL(base).host;
  return {
    curl: `# submit to the queue
curl -s -X POST ${base}/queue/${endpoint} \\
  -H "Authorization: Key $FAL_KEY" \\
  -H "Content-Type: application/json" \\
  -d ${shellQuote(JSON.stringify(input))}
# then, with the request_id it returns:
curl -sN "${base}/queue/${app}/requests/$REQUEST_ID/status/stream?logs=1" -H "Authorization: Key $FAL_KEY"
curl -s "${base}/queue/${app}/requests/$REQUEST_ID" -H "Authorization: Key $FAL_KEY"`,
    JavaScript: `// npm install @fal-ai/client
import { fal } from "@fal-ai/client";

fal.config({
  credentials: process.env.FAL_KEY,
  proxyUrl: { url: "${base}/api/fal/proxy", when: "always" },
});

const result = await fal.subscribe("${endpoint}", {
  input: ${jsInput},
  logs: true,
  onQueueUpdate: (update) => console.log(update.status, update.logs?.map((l) => l.message)),
});
console.log(result.data);`,
    Python: `# pip install fal-client; it speaks HTTPS only (likeness serve with TLS, server/README.md):
#   export FAL_KEY=...  FAL_RUN_HOST=${host}  FAL_QUEUE_RUN_HOST=${host}/queue
import fal_client

result = fal_client.subscribe(
    "${endpoint}",
    arguments=${py(input, "    ")},
    with_logs=True,
    on_queue_update=print,
)
print(result)`,
    Java: `// ai.fal.client:fal-client:0.7.1
import ai.fal.client.*;
import com.google.gson.JsonObject;
import java.util.List;
import java.util.Map;

FalClient fal = FalClient.withConfig(ClientConfig.builder()
        .withCredentials(CredentialsResolver.fromApiKey(System.getenv("FAL_KEY")))
        .withProxyUrl("${base}/api/fal/proxy")
        .build());
Map<String, Object> input = ${java(input)};
Output<JsonObject> result = fal.subscribe("${endpoint}", SubscribeOptions.<JsonObject>builder()
        .input(input).resultType(JsonObject.class).logs(true).build());
System.out.println(result.getData());`,
  };
}
