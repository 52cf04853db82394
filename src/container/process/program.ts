// A syscall program: the system calls a forked child makes, prepared before fork and run without allocating.
//
// Theory of operation: a forked Deno child is expensive per line of
// JavaScript it runs. Every function it calls for the first time is compiled
// there, every object it allocates lands on a page it shares with its parent
// and copies on the first write, and every exception builds a stack trace.
// The container's pid 1 used to make its forty-odd mounts that way and took
// about ten milliseconds for what the kernel does in one.
//
// So the parent writes the child's work down as data: each step one system
// call, its arguments numbers, C strings or structures laid out in memory
// that does not move (addresses are taken once, in the parent), or a
// register holding an earlier call's result (a descriptor). The child runs
// the list with one small loop over a Float64Array. Each call carries the
// words that name it in an error (step, system call, path); they are read
// only when a call fails, on the error path, where allocating is fine.
//
// A step that is not one system call (a terminal, an interface with
// addresses) is a hook: a function called at its place in the list.

import { lastErrno, libc } from "../../../ffi/libc.ts";
import type { RawSyscall } from "../../../ffi/raw_calls.ts";
import { SyscallError } from "../../../ffi/errno.ts";

/** A register: the result of one call, used as an argument of later ones. */
export class Register {
  /** Builds the register with its index in the program's register file. */
  constructor(readonly index: number) {}
}

/** An argument: a number, a buffer of the program's memory (passed as its address), or a register. */
export type ProgramArg = number | Uint8Array | Register;

/** How a call is named in an error, and which failures it may have. */
export interface CallOptions {
  /** The step it belongs to, as the user reads it: "mount /proc". */
  readonly step: string;
  /** The system call's name for the error: "mount". */
  readonly syscall: string;
  /** The path or argument the error names, if any. */
  readonly path?: string | null;
  /** Any failure is ignored (the feature is skipped). */
  readonly optional?: boolean;
  /** Failures with these errnos count as success (at most two): EEXIST for a directory made. */
  readonly tolerate?: readonly number[];
  /** Where the result goes. */
  readonly result?: Register;
  /** The exit status a failure implies: 125 unless given. */
  readonly exitCode?: number;
  /**
   * Runs when the call fails otherwise (JavaScript, on the rare path) to make it possible;
   * then the call is made once more. What it throws stops the program.
   */
  readonly fallback?: () => void;
}

/** What names a call of the program, for the error when it fails. */
export interface CallMeta {
  readonly step: string;
  readonly syscall: string;
  readonly path: string | null;
  readonly exitCode: number;
}

/** The system call seam: libc's syscall(2) and errno, or a recording fake in tests. */
export interface SyscallSeam {
  syscall(
    nr: number,
    a1: number,
    a2: number,
    a3: number,
    a4: number,
    a5: number,
    a6: number,
  ): number | bigint;
  errno(): number;
}

/** A failed call: its place in the program, its errno and what names it. */
export interface ProgramFailure {
  readonly index: number;
  readonly errno: number;
  readonly meta: CallMeta;
}

/** Slots per call in the code array. */
const STRIDE = 13;
const SLOT = {
  nr: 0,
  args: 1, // six slots
  registerMask: 7,
  result: 8,
  optional: 9,
  tolerate1: 10,
  tolerate2: 11,
  fallback: 12,
} as const;
/** The nr of a hook entry: the hook's index is in the first argument slot (as a fallback's is in its slot). */
const HOOK = -1;
const EINTR = 4;
/** Memory for strings and structures comes in blocks of this size (bigger items get their own). */
const BLOCK = 16384;

/** A prepared program: code, registers, memory and hooks, for {@link runProgram}. */
export class SyscallProgram {
  /** @internal */
  constructor(
    readonly code: Float64Array,
    readonly registers: Float64Array,
    readonly meta: readonly CallMeta[],
    readonly hooks: readonly (() => void)[],
    /** Keeps the memory the code points into alive. */
    readonly memory: readonly ArrayBuffer[],
  ) {}

  /** Number of entries (calls and hooks). */
  get length(): number {
    return this.code.length / STRIDE;
  }

  /** The entries as text, one per line ("mount /proc: mount"), for tests and debugging. */
  listing(): string[] {
    return this.meta.map((m) => `${m.step}: ${m.syscall}${m.path === null ? "" : ` ${m.path}`}`);
  }
}

/** A block of the program's memory: its bytes, its address, and how much is used. */
interface Block {
  readonly bytes: Uint8Array;
  readonly address: number;
  used: number;
}

/** Writes a program down, call by call; `build()` freezes it. */
export class ProgramBuilder {
  readonly #code: number[] = [];
  readonly #meta: CallMeta[] = [];
  readonly #hooks: (() => void)[] = [];
  readonly #memory: ArrayBuffer[] = [];
  /** Where each buffer of the program's memory starts, by buffer. */
  readonly #addresses = new Map<Uint8Array, number>();
  /** C strings already written, by text: each is written once. */
  readonly #strings = new Map<string, Uint8Array>();
  readonly #encoder = new TextEncoder();
  #scratch = new Uint8Array(256);
  #block: Block | null = null;
  #registers = 0;

  /** A new register for a call's result; it holds -1 until set. */
  register(): Register {
    return new Register(this.#registers++);
  }

  /** `size` bytes of the program's memory, zeroed, 8-byte aligned; their address never changes. */
  #allocate(size: number): Uint8Array {
    const rounded = Math.max((size + 7) & ~7, 8);
    if (rounded > BLOCK / 4) {
      const own = new Uint8Array(rounded);
      this.#memory.push(own.buffer);
      const out = own.subarray(0, size);
      this.#addresses.set(out, addressOf(own));
      return out;
    }
    let block = this.#block;
    if (block === null || block.used + rounded > BLOCK) {
      const bytes = new Uint8Array(BLOCK);
      this.#memory.push(bytes.buffer);
      block = this.#block = { bytes, address: addressOf(bytes), used: 0 };
    }
    const out = block.bytes.subarray(block.used, block.used + size);
    this.#addresses.set(out, block.address + block.used);
    block.used += rounded;
    return out;
  }

  /** Copies `bytes` into the program's memory and returns the copy. */
  bytes(bytes: Uint8Array): Uint8Array {
    const out = this.#allocate(bytes.length);
    out.set(bytes);
    return out;
  }

  /** A NUL-terminated C string in the program's memory (each text is written once). */
  cstr(s: string): Uint8Array {
    let out = this.#strings.get(s);
    if (out === undefined) {
      if (this.#scratch.length < s.length * 3) this.#scratch = new Uint8Array(s.length * 3);
      const { written } = this.#encoder.encodeInto(s, this.#scratch);
      out = this.#allocate(written + 1); // zeroed: the NUL is there
      out.set(this.#scratch.subarray(0, written));
      this.#strings.set(s, out);
    }
    return out;
  }

  /** A NULL-terminated array of C strings (argv, envp) in the program's memory. */
  cstrArray(items: readonly string[]): Uint8Array {
    const pointers = this.#allocate((items.length + 1) * 8);
    const view = new DataView(pointers.buffer, pointers.byteOffset, pointers.length);
    items.forEach((s, i) => view.setBigUint64(i * 8, BigInt(this.address(this.cstr(s))), true));
    return pointers;
  }

  /** The address of a buffer of the program's memory. */
  address(b: Uint8Array): number {
    const a = this.#addresses.get(b);
    if (a === undefined) throw new Error("not a buffer of this program's memory");
    return a;
  }

  /** Adds one system call. Buffer arguments must come from bytes(), cstr() or cstrArray(). */
  call(nr: number, args: readonly ProgramArg[], options: CallOptions): this {
    if (args.length > 6) throw new Error(`${options.syscall}: at most six arguments`);
    const code = this.#code;
    code.push(nr);
    let mask = 0;
    for (let i = 0; i < 6; i++) {
      const a = args[i] ?? 0;
      if (a instanceof Register) {
        mask |= 1 << i;
        code.push(a.index);
      } else if (a instanceof Uint8Array) {
        code.push(this.address(a));
      } else {
        code.push(a);
      }
    }
    const [t1 = 0, t2 = 0] = options.tolerate ?? [];
    let fallback = -1;
    if (options.fallback) {
      fallback = this.#hooks.length;
      this.#hooks.push(options.fallback);
    }
    code.push(mask, options.result?.index ?? -1, options.optional ? 1 : 0, t1, t2, fallback);
    this.#meta.push({
      step: options.step,
      syscall: options.syscall,
      path: options.path ?? null,
      exitCode: options.exitCode ?? 125,
    });
    return this;
  }

  /** Adds a hook: `fn` runs at this place; what it throws ends the program. */
  hook(step: string, fn: () => void): this {
    this.#code.push(HOOK, this.#hooks.length, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0, -1);
    this.#hooks.push(fn);
    this.#meta.push({ step, syscall: "(hook)", path: null, exitCode: 125 });
    return this;
  }

  /** Freezes the program. */
  build(): SyscallProgram {
    const registers = new Float64Array(Math.max(this.#registers, 1)).fill(-1);
    return new SyscallProgram(
      new Float64Array(this.#code),
      registers,
      [...this.#meta],
      [...this.#hooks],
      [...this.#memory],
    );
  }
}

/** The address of a buffer as a number (user space addresses fit in 53 bits). */
function addressOf(b: Uint8Array): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b as Uint8Array<ArrayBuffer>)));
}

/** The seam of the real kernel: libc's syscall(2) through the one binding, and errno. */
export const KERNEL: SyscallSeam = {
  syscall: (nr, a1, a2, a3, a4, a5, a6) =>
    (libc.syscall6 as unknown as RawSyscall)(nr, a1, a2, a3, a4, a5, a6),
  errno: lastErrno,
};

/**
 * Runs `program` from entry `from` to its end, or to its first failure, which it returns.
 * Nothing is allocated on the way unless a call fails or a hook does. Hooks' exceptions pass.
 */
export function runProgram(
  program: SyscallProgram,
  seam: SyscallSeam = KERNEL,
  from = 0,
): ProgramFailure | null {
  const code = program.code;
  const regs = program.registers;
  const sys = seam.syscall;
  let retried = -1;
  for (let pc = from * STRIDE; pc < code.length; pc += STRIDE) {
    const nr = code[pc]!;
    if (nr === HOOK) {
      program.hooks[code[pc + SLOT.args]!]!();
      continue;
    }
    const mask = code[pc + SLOT.registerMask]!;
    const a = pc + SLOT.args;
    const r = Number(sys(
      nr,
      mask & 1 ? regs[code[a]!]! : code[a]!,
      mask & 2 ? regs[code[a + 1]!]! : code[a + 1]!,
      mask & 4 ? regs[code[a + 2]!]! : code[a + 2]!,
      mask & 8 ? regs[code[a + 3]!]! : code[a + 3]!,
      mask & 16 ? regs[code[a + 4]!]! : code[a + 4]!,
      mask & 32 ? regs[code[a + 5]!]! : code[a + 5]!,
    ));
    if (r === -1) {
      const errno = seam.errno();
      if (errno === EINTR) {
        pc -= STRIDE; // again
        continue;
      }
      if (
        code[pc + SLOT.optional] === 1 || errno === code[pc + SLOT.tolerate1] ||
        errno === code[pc + SLOT.tolerate2]
      ) continue;
      const fallback = code[pc + SLOT.fallback]!;
      if (fallback >= 0 && retried !== pc) {
        program.hooks[fallback]!();
        retried = pc;
        pc -= STRIDE; // again, once
        continue;
      }
      const index = pc / STRIDE;
      return { index, errno, meta: program.meta[index]! };
    }
    const out = code[pc + SLOT.result]!;
    if (out >= 0) regs[out] = r;
  }
  return null;
}

/** A program failure as the SyscallError it would have been, for the step machinery. */
export function failureError(f: ProgramFailure): SyscallError {
  return new SyscallError(f.meta.syscall, f.errno, f.meta.path ?? undefined);
}
