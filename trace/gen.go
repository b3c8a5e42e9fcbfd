package trace

// The programs are compiled with Debian's clang 14 and libbpf-dev 1.1 headers;
// vmlinux.h was dumped from Linux 6.18.44's BTF (bpftool btf dump file
// /sys/kernel/btf/vmlinux format c). The generated bpf_{x86,arm64}_bpfel.go and .o are
// committed so that building backlogctl needs no clang; sources.sha256 records
// the sources they were built from and the outputs they gave
// (TestGeneratedObjectsCurrent checks both).
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -mcpu=v3" -target amd64,arm64 -type listener_stats -type drop_key -type accept_error_key -type untraced_key bpf bpf/trace.c -- -I./bpf
//go:generate sh -c "sha256sum bpf/trace.c bpf/vmlinux.h bpf_x86_bpfel.go bpf_x86_bpfel.o bpf_arm64_bpfel.go bpf_arm64_bpfel.o > sources.sha256"
