// Tests for the pcap writer, read back by tcpdump when it is installed.

import assert from "node:assert/strict";
import { openPcapFile, PCAP_MAGIC, PcapWriter } from "./pcap.ts";
import { NetworkStack } from "../stack.ts";
import { FakeContainer } from "../_test_container.ts";

Deno.test("pcap: writes the global header and records with microsecond timestamps", () => {
  const chunks: Uint8Array[] = [];
  const w = new PcapWriter({ write: (b) => chunks.push(b.slice()) }, 128);
  w.write(new Uint8Array(200).fill(7), 1_700_000_000_123.456);
  const h = new DataView(chunks[0]!.buffer);
  assert.equal(h.getUint32(0, true), PCAP_MAGIC);
  assert.equal(h.getUint16(4, true), 2);
  assert.equal(h.getUint16(6, true), 4);
  assert.equal(h.getUint32(16, true), 128);
  assert.equal(h.getUint32(20, true), 1);
  const r = new DataView(chunks[1]!.buffer);
  assert.equal(r.getUint32(0, true), 1_700_000_000);
  assert.equal(r.getUint32(4, true), 123_456);
  assert.equal(r.getUint32(8, true), 128);
  assert.equal(r.getUint32(12, true), 200);
  assert.equal(chunks[1]!.length, 16 + 128);
});

Deno.test("pcap: tcpdump reads a capture of ARP and ping", async () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/cap.pcap`;
  try {
    const { writer, close } = openPcapFile(path);
    let t = 1_700_000_000_000;
    const stack = new NetworkStack({ send: (f) => writer.write(f, t++) });
    const c = new FakeContainer();
    for (const f of [c.arpRequest(), c.ping()]) {
      writer.write(f, t++);
      stack.receive(f, 0);
    }
    stack.close();
    close();
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command("tcpdump", {
        args: ["-nn", "-r", path],
        stderr: "piped",
        stdout: "piped",
      })
        .output();
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        console.warn("tcpdump not installed (apt-get install tcpdump): reading back skipped");
        return;
      }
      throw e;
    }
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const lines = text.trim().split("\n");
    assert.equal(lines.length, 4, text);
    assert.match(lines[0]!, /ARP, Request who-has 10\.0\.15\.1 tell 10\.0\.15\.2/);
    assert.match(lines[1]!, /ARP, Reply 10\.0\.15\.1 is-at 02:50:00:00:0f:01/);
    assert.match(lines[2]!, /10\.0\.15\.2 > 10\.0\.15\.1: ICMP echo request/);
    assert.match(lines[3]!, /10\.0\.15\.1 > 10\.0\.15\.2: ICMP echo reply/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
