/**
 * The host side of the network end-to-end test, run inside the test's network namespace:
 * `GET /NAME` serves a file from `--root`, `POST /up` stores the body in `--save` and answers
 * with its SHA-256 (hex). Prints `LISTENING` once the socket is bound, and with `--tap NAME` the
 * tap's counters when a download starts (`GET-START`) and an upload starts and ends
 * (`POST-START`, `POST-END`): `tx_bytes tx_packets rx_bytes rx_packets`.
 *
 * Usage: `deno run -A tests/support/net_server.ts --addr 10.77.0.1 --port 8080 --root DIR --save FILE [--tap NAME]`
 *
 * @module
 */

const args = Object.fromEntries(
  Deno.args.flatMap((a, i, all) => (a.startsWith("--") ? [[a.slice(2), all[i + 1] ?? ""]] : [])),
);

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function tapStats(): Promise<string> {
  if (!args.tap) return "";
  const dir = `/sys/class/net/${args.tap}/statistics`;
  const names = ["tx_bytes", "tx_packets", "rx_bytes", "rx_packets"];
  const values = await Promise.all(names.map((n) => Deno.readTextFile(`${dir}/${n}`)));
  return values.map((v) => v.trim()).join(" ");
}

Deno.serve({
  hostname: args.addr,
  port: Number(args.port),
  onListen: () => console.log("LISTENING"),
}, async (req) => {
  const path = new URL(req.url).pathname;
  if (req.method === "POST" && path === "/up") {
    console.log(`POST-START ${await tapStats()}`);
    const body = new Uint8Array(await req.arrayBuffer());
    console.log(`POST-END ${await tapStats()}`);
    await Deno.writeFile(args.save, body);
    console.log(`UPLOAD ${body.length}`);
    return new Response(`${await sha256(body)}\n`);
  }
  if (req.method === "GET" && /^\/[\w.-]+$/.test(path)) {
    try {
      console.log(`GET-START ${await tapStats()}`);
      const file = await Deno.readFile(`${args.root}${path}`);
      console.log(`DOWNLOAD ${path} ${file.length}`);
      return new Response(file);
    } catch {
      return new Response("not found\n", { status: 404 });
    }
  }
  return new Response("bad request\n", { status: 400 });
});
