// TCP connection state names of RFC 9293 section 3.3.2 (LISTEN is implicit: the layer accepts any port).

/** The connection states of RFC 9293 section 3.3.2. */
export type TcpState =
  | "CLOSED"
  | "LISTEN"
  | "SYN-SENT"
  | "SYN-RECEIVED"
  | "ESTABLISHED"
  | "FIN-WAIT-1"
  | "FIN-WAIT-2"
  | "CLOSE-WAIT"
  | "CLOSING"
  | "LAST-ACK"
  | "TIME-WAIT";

/** True in the states where both sides have exchanged SYNs (RFC 9293 section 3.3.2 "synchronized"). */
export function isSynchronized(s: TcpState): boolean {
  return s !== "CLOSED" && s !== "LISTEN" && s !== "SYN-SENT" && s !== "SYN-RECEIVED";
}

/** True while the peer may still send us data (our receive side is open). */
export function canReceiveData(s: TcpState): boolean {
  return s === "ESTABLISHED" || s === "FIN-WAIT-1" || s === "FIN-WAIT-2";
}
