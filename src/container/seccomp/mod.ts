// Seccomp for containers: Docker-format profiles compiled to classic BPF, and paranoid's default.
//
// ```ts
// import { compileDefaultProfile } from "./mod.ts";
// import { resolveCapabilities } from "../caps.ts";
// const program = compileDefaultProfile(resolveCapabilities([], []));
// // program: struct sock_filter[] bytes; sock_fprog.len = program.length / 8
// ```

export * from "./bpf.ts";
export * from "./profile.ts";
export * from "./default.ts";
export { SYSCALLS_X86_64 } from "./syscalls_x86_64.ts";
export { SYSCALLS_AARCH64 } from "./syscalls_aarch64.ts";
