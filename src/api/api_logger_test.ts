import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { apiLogSink, formatLogLine } from "./api_logger.ts";
import type { LineSink } from "./line_sink.ts";

function record(o: Partial<LogRecord> = {}): LogRecord {
  return {
    category: ["denovmm", "vm"],
    level: "info",
    message: ["Loaded ", "elf", " kernel at ", 0x1000000, ""],
    rawMessage: "",
    timestamp: Date.UTC(2024, 4, 1, 10, 0, 0, 123),
    properties: {},
    ...o,
  } as LogRecord;
}

function fakeFile(): { file: LineSink; lines: string[] } {
  const lines: string[] = [];
  return {
    file: { writeLine: (l: string) => (lines.push(l), true) } as unknown as LineSink,
    lines,
  };
}

Deno.test("formatLogLine: Firecracker's timestamp [id:thread:LEVEL:origin] message", () => {
  const o = { instanceId: "vm1", showLevel: true, showOrigin: true };
  assert.equal(
    formatLogLine(record(), o),
    "2024-05-01T10:00:00.123Z [vm1:main:INFO:denovmm.vm] Loaded elf kernel at 16777216",
  );
  assert.equal(
    formatLogLine(record({ level: "warning" }), { ...o, showOrigin: false }),
    "2024-05-01T10:00:00.123Z [vm1:main:WARN] Loaded elf kernel at 16777216",
  );
  assert.match(
    formatLogLine(record(), { ...o, showLevel: false, showOrigin: false }),
    /\[vm1:main\] /,
  );
});

Deno.test("apiLogSink: level names, the Off level, and the module filter", () => {
  const { file, lines } = fakeFile();
  assert.equal(apiLogSink({ level: "Off" }, file, "id"), undefined);
  assert.equal(apiLogSink({}, file, "id")!.lowestLevel, "info", "Firecracker's default level");
  assert.equal(apiLogSink({ level: "Warning" }, file, "id")!.lowestLevel, "warning");
  const only = apiLogSink({ level: "Trace", module: "api" }, file, "id")!;
  assert.equal(only.lowestLevel, "trace");
  only.sink(record({ category: ["denovmm", "api"] }));
  only.sink(record({ category: ["denovmm", "api", "server"] }));
  only.sink(record({ category: ["denovmm", "vm"] }));
  only.sink(record({ category: ["denovmm", "apiary"] }));
  assert.equal(lines.length, 2);
  const rust = apiLogSink({ module: "denovmm::vm" }, file, "id")!;
  rust.sink(record());
  assert.equal(lines.length, 3);
});
