// A syscall program: the system calls a forked child makes, written down as data and run without allocating.
//
// Theory of operation: a forked Deno child is expensive per line of
// JavaScript it runs. Every function it calls for the first time is compiled
// there, every object it allocates lands on a page it shares with its parent
// and copies on the first write, and every exception builds a stack trace.
// The container's pid 1 used to make its forty-odd mounts that way and took
// about ten milliseconds for what the kernel does in a few.
//
// So the host side writes the child's work down as data: each entry one
// system call, its arguments numbers, C strings or structures in memory whose
// addresses never change, or registers holding an earlier call's result (a
// descriptor). The child runs the list with one small loop over a
// Float64Array. Each call carries the words that name it in an error (step,
// system call, path); they are read only when a call fails.
//
// A step that is not one system call (an interface with addresses, a
// terminal) is a hook: an entry naming a function of a table the runner
// passes in, with up to five numeric arguments. A call may name a fallback
// hook that makes it possible when it fails; the call is then made again once.

import { lastErrno, libc } from "../../../ffi/libc.ts";
import { SyscallError } from "../../../ffi/errno.ts";
import type { RawSyscall } from "../../../ffi/raw_calls.ts";

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
   * A hook (id and arguments) that runs when the call fails otherwise, to make it possible;
   * then the call is made once more. What the hook throws stops the program.
   */
  readonly fallback?: { readonly hook: number; readonly args: readonly ProgramArg[] };
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

/** A hook: called with its arguments (registers resolved); throws to stop the program. */
export type Hook = (args: readonly number[]) => void;

/** A failed call: its place in the program, its errno and what names it. */
export interface ProgramFailure {
  readonly index: number;
  readonly errno: number;
  readonly meta: CallMeta;
}

/** Slots per entry in the code array. */
const STRIDE = 13;
const SLOT = {
  nr: 0,
  args: 1, // six slots; a hook's id is the first
  registerMask: 7,
  result: 8,
  optional: 9,
  tolerate1: 10,
  tolerate2: 11,
  fallback: 12, // index of a hook entry after the program's end, or -1
} as const;
/** The nr of a hook entry. */
const HOOK = -1;
const EINTR = 4;
/** Registers per register file: plenty for a container's start. */
const REGISTERS = 64;
/** Heap memory comes in blocks of this size (bigger pieces get their own). */
const BLOCK = 16384;

/** A program: entries in memory, a register file, and what names each call. */
export class SyscallProgram {
  /** Builds the program over its code (entries, then fallback hooks) and register file. */
  constructor(
    readonly code: Float64Array,
    /** Number of entries run in order (fallback hooks come after them). */
    readonly length: number,
    readonly registers: Float64Array,
    /** What names entry `index` (read only on the error path). */
    readonly describe: (index: number) => CallMeta,
  ) {}

  /** The entries as text, one per line ("mount /proc: mount /proc"), for tests and debugging. */
  listing(): string[] {
    return Array.from({ length: this.length }, (_, i) => {
      const m = this.describe(i);
      return `${m.step}: ${m.syscall}${m.path === null ? "" : ` ${m.path}`}`;
    });
  }
}

/**
 * A program's memory: zeroed, 8-byte aligned pieces of ArrayBuffers whose addresses never
 * change, on the JavaScript heap (a forked child has its copy where the parent had it).
 */
class Memory {
  readonly #blocks: Uint8Array[] = [];
  #block: Uint8Array | null = null;
  #address = 0;
  #used = 0;

  /** `size` bytes and their address. */
  allocate(size: number): { bytes: Uint8Array; address: number } {
    const rounded = Math.max((size + 7) & ~7, 8);
    if (rounded > BLOCK / 4) {
      const own = new Uint8Array(rounded);
      this.#blocks.push(own);
      return { bytes: own.subarray(0, size), address: addressOf(own) };
    }
    if (this.#block === null || this.#used + rounded > BLOCK) {
      this.#block = new Uint8Array(BLOCK);
      this.#blocks.push(this.#block);
      this.#address = addressOf(this.#block);
      this.#used = 0;
    }
    const at = this.#used;
    this.#used += rounded;
    return { bytes: this.#block.subarray(at, at + size), address: this.#address + at };
  }
}

/** Writes programs down, call by call; each `end()` closes one. They share memory and registers. */
export class ProgramBuilder {
  readonly #memory = new Memory();
  #code: number[] = [];
  #fallbacks: number[] = [];
  /** Each entry's options (or, for a hook, its step), made into CallMeta only when asked for. */
  #meta: (CallOptions | string)[] = [];
  /** Where each buffer of the program's memory starts, by buffer. */
  readonly #addresses = new Map<Uint8Array, number>();
  /** C strings already written, by text: each is written once. */
  readonly #strings = new Map<string, Uint8Array>();
  readonly #encoder = new TextEncoder();
  #scratch = new Uint8Array(256);
  #registerCount = 0;
  /** The register file the programs share. */
  readonly registers = new Float64Array(REGISTERS).fill(-1);

  /** A new register for a call's result; it holds -1 until set. */
  register(): Register {
    if (this.#registerCount === REGISTERS) throw new Error("out of registers");
    return new Register(this.#registerCount++);
  }

  #allocate(size: number): Uint8Array {
    const { bytes, address } = this.#memory.allocate(size);
    this.#addresses.set(bytes, address);
    return bytes;
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
      out = this.#allocate(s.length + 1); // zeroed: the NUL is there
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) return this.#cstrUtf8(s); // paths are mostly ASCII: no encoder call
        out[i] = c;
      }
      this.#strings.set(s, out);
    }
    return out;
  }

  #cstrUtf8(s: string): Uint8Array {
    if (this.#scratch.length < s.length * 3) this.#scratch = new Uint8Array(s.length * 3);
    const { written } = this.#encoder.encodeInto(s, this.#scratch);
    const out = this.#allocate(written + 1);
    out.set(this.#scratch.subarray(0, written));
    this.#strings.set(s, out);
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

  #entry(target: number[], nr: number, args: readonly ProgramArg[]): void {
    if (args.length > 6) throw new Error("at most six arguments");
    target.push(nr);
    let mask = 0;
    for (let i = 0; i < 6; i++) {
      const a = args[i] ?? 0;
      if (a instanceof Register) {
        mask |= 1 << i;
        target.push(a.index);
      } else if (a instanceof Uint8Array) {
        target.push(this.address(a));
      } else {
        target.push(a);
      }
    }
    target.push(mask);
  }

  /** Adds one system call. Buffer arguments must come from bytes(), cstr() or cstrArray(). */
  call(nr: number, args: readonly ProgramArg[], options: CallOptions): this {
    this.#entry(this.#code, nr, args);
    const tolerate = options.tolerate;
    const t1 = tolerate !== undefined && tolerate.length > 0 ? tolerate[0]! : 0;
    const t2 = tolerate !== undefined && tolerate.length > 1 ? tolerate[1]! : 0;
    let fallback = -1;
    const f = options.fallback;
    if (f !== undefined) {
      fallback = this.#fallbacks.length / STRIDE;
      this.#entry(this.#fallbacks, HOOK, [f.hook, ...f.args]);
      this.#fallbacks.push(-1, 0, 0, 0, -1);
    }
    const result = options.result;
    this.#code.push(
      result === undefined ? -1 : result.index,
      options.optional ? 1 : 0,
      t1,
      t2,
      fallback,
    );
    this.#meta.push(options);
    return this;
  }

  /** Adds a hook entry: hook `id` of the runner's table runs here with `args` (at most five). */
  hook(step: string, id: number, args: readonly ProgramArg[] = []): this {
    if (args.length > 5) throw new Error(`${step}: a hook takes at most five arguments`);
    this.#entry(this.#code, HOOK, [id, ...args]);
    this.#code.push(-1, 0, 0, 0, -1);
    this.#meta.push(step);
    return this;
  }

  /** Closes the program written since the last end(). */
  end(): SyscallProgram {
    const length = this.#code.length / STRIDE;
    // Fallback indices count from the program's start: they follow its entries.
    const code = [...this.#code];
    for (let i = 0; i < length; i++) {
      const at = i * STRIDE + SLOT.fallback;
      if (code[at]! >= 0) code[at] = length + code[at]!;
    }
    code.push(...this.#fallbacks);
    const described = this.#meta;
    const describe = (i: number): CallMeta => {
      const m = described[i]!;
      if (typeof m === "string") return { step: m, syscall: "(hook)", path: null, exitCode: 125 };
      return {
        step: m.step,
        syscall: m.syscall,
        path: m.path ?? null,
        exitCode: m.exitCode ?? 125,
      };
    };
    this.#code = [];
    this.#fallbacks = [];
    this.#meta = [];
    return new SyscallProgram(new Float64Array(code), length, this.registers, describe);
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

/** The arguments of the hook entry at `pc`, registers resolved. */
function hookArgs(code: Float64Array, regs: Float64Array, pc: number): number[] {
  const mask = code[pc + SLOT.registerMask]!;
  const args: number[] = [];
  for (let i = 1; i < 6; i++) {
    const v = code[pc + SLOT.args + i]!;
    args.push(mask & (1 << i) ? regs[v]! : v);
  }
  return args;
}

/**
 * Runs `program` to its end, or to its first failure, which it returns. `hooks` is the table
 * hook entries name. Nothing is allocated on the way unless a call fails or a hook runs.
 */
export function runProgram(
  program: SyscallProgram,
  hooks: readonly Hook[] = [],
  seam: SyscallSeam = KERNEL,
): ProgramFailure | null {
  const code = program.code;
  const regs = program.registers;
  const sys = seam.syscall;
  const end = program.length * STRIDE;
  let retried = -1;
  for (let pc = 0; pc < end; pc += STRIDE) {
    const nr = code[pc]!;
    if (nr === HOOK) {
      hooks[code[pc + SLOT.args]!]!(hookArgs(code, regs, pc));
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
        const at = fallback * STRIDE;
        hooks[code[at + SLOT.args]!]!(hookArgs(code, regs, at));
        retried = pc;
        pc -= STRIDE; // again, once
        continue;
      }
      const index = pc / STRIDE;
      return { index, errno, meta: program.describe(index) };
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
