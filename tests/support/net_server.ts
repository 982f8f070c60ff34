/**
 * The host side of the network end-to-end test, run inside the test's network namespace:
 * `GET /NAME` serves a file from `--root`, `POST /up` stores the body in `--save` and answers
 * with its SHA-256 (hex). Prints `LISTENING` once the socket is bound.
 *
 * Usage: `deno run -A tests/support/net_server.ts --addr 10.77.0.1 --port 8080 --root DIR --save FILE`
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

Deno.serve({
  hostname: args.addr,
  port: Number(args.port),
  onListen: () => console.log("LISTENING"),
}, async (req) => {
  const path = new URL(req.url).pathname;
  if (req.method === "POST" && path === "/up") {
    const body = new Uint8Array(await req.arrayBuffer());
    await Deno.writeFile(args.save, body);
    console.log(`UPLOAD ${body.length}`);
    return new Response(`${await sha256(body)}\n`);
  }
  if (req.method === "GET" && /^\/[\w.-]+$/.test(path)) {
    try {
      const file = await Deno.readFile(`${args.root}${path}`);
      console.log(`DOWNLOAD ${path} ${file.length}`);
      return new Response(file);
    } catch {
      return new Response("not found\n", { status: 404 });
    }
  }
  return new Response("bad request\n", { status: 400 });
});
