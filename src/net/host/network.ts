// A container's network on the host side: the TAP link, the stack, TCP, the host bridges, DNS, ICMP and the trace.
//
// Theory of operation: everything runs on the host side's event loop. The TAP
// link's receive loop hands each frame to the stack with the current time;
// frames the stack sends are written to the TAP at once. After every batch
// (and whenever TCP is woken by the host side) one timer is re-armed for the
// stack's next deadline. Closing stops the loop, aborts every connection and
// closes every host socket the container caused.

import { type NetworkConfig, networkConfig } from "../config.ts";
import { NetworkStack, type StackCounters } from "../stack.ts";
import { TcpLayer } from "../tcp/layer.ts";
import { dnsOverTcp, TcpBridge } from "./tcp_bridge.ts";
import { UdpBridge } from "./udp_bridge.ts";
import { DnsForwarder } from "../services/dns_forwarder.ts";
import { HostIcmpEcho } from "./icmp_echo.ts";
import { type FrameHandler, TapLink, type TapStats } from "../link/tap.ts";
import { Reactor, type ReactorStats } from "../reactor.ts";
import { openPcapFile } from "../link/pcap.ts";
import type { PortPublisher } from "./publish.ts";

/** The longest a closing network waits for bridged connections to hand the host their last data. */
const DRAIN_MS = 2000;
/** Rounds of reading what the TAP holds at close, a millisecond apart, while frames keep coming. */
const TAP_DRAIN_ROUNDS = 8;

/** Options of a container network. */
export interface ContainerNetworkOptions {
  /** Addressing and policy overrides (MTU, DNS upstreams, host loopback). */
  readonly config?: Partial<NetworkConfig>;
  /** Write every frame, both ways, to this pcap file. */
  readonly trace?: string;
  /** Published ports, already bound; served once the network is up and closed with it. */
  readonly publish?: PortPublisher;
  /** Where one-time explanations go (default: stderr with the program name). */
  readonly warn?: (message: string) => void;
}

/** The counters of every layer, for the debug dump. */
export interface NetworkCounters {
  readonly link: TapStats & ReactorStats;
  readonly stack: StackCounters;
  readonly tcpConnections: number;
  readonly udpFlows: number;
}

/** The host side of one container's network. */
export class ContainerNetwork {
  /** The stack's configuration. */
  readonly config: NetworkConfig;
  readonly #link: TapLink;
  /** What the link calls with each frame read from the TAP. */
  readonly #onFrame: FrameHandler;
  readonly #reactor: Reactor;
  readonly #stack: NetworkStack;
  readonly #tcp: TcpLayer;
  readonly #tcpBridge: TcpBridge;
  readonly #udp: UdpBridge;
  readonly #dns: DnsForwarder;
  readonly #icmp: HostIcmpEcho;
  readonly #trace: { write(frame: Uint8Array, t: number): void; close(): void } | null;
  readonly #publish: PortPublisher | null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #closed = false;

  /** Takes ownership of the TAP descriptor and starts serving the container. */
  constructor(tapFd: number, options: ContainerNetworkOptions = {}) {
    this.config = networkConfig(options.config ?? {});
    const warn = options.warn ?? ((m: string) => console.error(`paranoid: ${m}`));
    this.#reactor = new Reactor();
    this.#link = new TapLink(tapFd, this.#reactor);
    if (options.trace !== undefined) {
      const pcap = openPcapFile(options.trace);
      this.#trace = { write: (f, t) => pcap.writer.write(f, t), close: pcap.close };
    } else {
      this.#trace = null;
    }
    const link = this.#link;
    const trace = this.#trace;
    const epoch = Date.now() - performance.now();
    let txGsoSize = 0;
    this.#dns = new DnsForwarder({ upstreams: this.config.dnsUpstreams });
    this.#udp = new UdpBridge({ config: this.config });
    this.#icmp = new HostIcmpEcho(warn);
    this.#stack = new NetworkStack({
      config: this.config,
      send: trace === null ? (frame) => link.send(frame, txGsoSize) : (frame) => {
        trace.write(frame, epoch + performance.now());
        link.send(frame, txGsoSize);
      },
      hooks: {
        udp: options.publish ? options.publish.wrapUdp(this.#udp, this.config) : this.#udp,
        dns: this.#dns,
        icmpEcho: this.#icmp,
      },
    });
    const ipv4 = this.#stack.ipv4;
    const tcp = this.#tcp = new TcpLayer({
      // A segment larger than the MTU (TSO) reaches the link with the size to cut it into.
      // (The IPv6 layer cuts such segments itself.)
      sender: {
        sendIpv4: (src, dst, protocol, payload, gsoSize = 0) => {
          txGsoSize = gsoSize;
          ipv4.sendIpv4(src, dst, protocol, payload, gsoSize);
          txGsoSize = 0;
        },
      },
      mss: this.config.mtu - 40,
      wake: () => this.#schedule(),
      checksumOffload: link.offload.checksum,
      // RFC 5681 4.2: every second segment is acknowledged at once, a lone one within 2 ms. With
      // 64 KiB segments this halves the ACKs the container's kernel must process.
      delayedAck: 2,
      // Four 64 KiB segments in flight were the limit: 1 MiB windows keep each sender busy.
      recvBufferSize: 1024 * 1024,
      sendBufferSize: 1024 * 1024,
      // TCP segmentation offload: up to 64 KiB per segment, cut to the MSS by the container's
      // kernel (only when the TAP took TUN_F_TSO4).
      tsoSize: link.offload.tso ? 0xffff - 40 : 0,
    });
    // The link says per frame whether the container's kernel left the TCP checksum to the device
    // (virtio NEEDS_CSUM): the frame being received is the one TCP sees.
    let rxChecksumValid = false;
    this.#stack.registerProtocol(6, {
      input: (d, now) => tcp.input(d, now, rxChecksumValid),
      poll: (now) => tcp.poll(now),
      pollAt: () => tcp.pollAt(),
    });
    this.#tcpBridge = new TcpBridge(this.#tcp, {
      // Host socket reads and writes of up to 1 MiB: fewer, larger system calls each way.
      chunkSize: 1024 * 1024,
      config: this.config,
      reactor: this.#reactor,
      gatewayServices: new Map([[53, dnsOverTcp((q) => this.#dns.forwardQuery(q))]]),
    });
    this.#publish = options.publish ?? null;
    this.#publish?.serveTcp(this.#tcpBridge, this.config, this.#reactor);
    const stack = this.#stack;
    this.#onFrame = trace === null
      ? (frame, checksumValid) => {
        rxChecksumValid = checksumValid;
        stack.receive(frame, performance.now());
        rxChecksumValid = false;
      }
      : (frame, checksumValid) => {
        trace.write(frame, epoch + performance.now());
        rxChecksumValid = checksumValid;
        stack.receive(frame, performance.now());
        rxChecksumValid = false;
      };
    link.start(this.#onFrame, () => this.#schedule());
  }

  /** The TCP bridge, for published ports. */
  get tcpBridge(): TcpBridge {
    return this.#tcpBridge;
  }

  /** Re-arms the one timer for the stack's next deadline. */
  #schedule(): void {
    if (this.#closed) return;
    const at = this.#stack.pollAt();
    if (at === undefined) return;
    if (this.#timer !== undefined && at >= this.#timerAt) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      if (this.#closed) return;
      this.#stack.poll(performance.now());
      this.#schedule();
    }, Math.max(0, at - performance.now()));
  }

  /** Counters of every layer. */
  counters(): NetworkCounters {
    return {
      link: { ...this.#link.stats, ...this.#reactor.stats },
      stack: this.#stack.counters(),
      tcpConnections: this.#tcp.connectionCount,
      udpFlows: this.#udp.flowCount,
    };
  }

  /** Stops the link and closes every host socket the container caused. */
  async close(): Promise<void> {
    if (this.#closed) return;
    // What the container sent just before it ended goes out before the sockets close: first
    // what waits on the TAP unread (the stack may have started after it was sent), in rounds,
    // since an answer (ARP, an ACK) can release more that the container's kernel holds.
    for (let round = 0; round < TAP_DRAIN_ROUNDS; round++) {
      let frames = 0;
      for (let n = 1; n > 0;) frames += n = this.#link.readReady(this.#onFrame);
      if (frames === 0) break;
      this.#schedule();
      await new Promise((r) => setTimeout(r, 1));
    }
    await this.#tcpBridge.drain(DRAIN_MS);
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#link.close();
    this.#publish?.close();
    this.#tcpBridge.close();
    this.#tcp.abortAll();
    this.#icmp.close();
    this.#dns.close();
    await this.#udp.close();
    this.#stack.close();
    await this.#reactor.close();
    this.#trace?.close();
  }
}
