#include "textflag.h"

// rawSigHandler is the signal handler for the signals the Go runtime does
// not let os/signal catch (sigraw_linux.go). The kernel calls it as a C
// function, void handler(int sig), on the thread's alternate signal stack
// (SA_ONSTACK: every Go thread has one). It only writes the signal number,
// one byte, to the pipe whose write end is rawSigFD: a raw syscall, no Go
// runtime state, no errno. A full pipe drops the byte (the write end is
// non-blocking). Every register it changes is restored by rt_sigreturn.
TEXT ·rawSigHandler(SB),NOSPLIT|NOFRAME,$0
	SUBQ	$16, SP
	MOVB	DI, 0(SP)
	MOVL	·rawSigFD(SB), DI
	MOVQ	SP, SI
	MOVL	$1, DX
	MOVL	$1, AX // SYS_write
	SYSCALL
	ADDQ	$16, SP
	RET

// rawSigRestorer returns from the handler (SA_RESTORER: a static binary
// has no C library to provide one).
TEXT ·rawSigRestorer(SB),NOSPLIT|NOFRAME,$0
	MOVL	$15, AX // SYS_rt_sigreturn
	SYSCALL
	INT	$3

// func rawSigHandlerAddr() uintptr
TEXT ·rawSigHandlerAddr(SB),NOSPLIT,$0-8
	LEAQ	·rawSigHandler(SB), AX
	MOVQ	AX, ret+0(FP)
	RET

// func rawSigRestorerAddr() uintptr
TEXT ·rawSigRestorerAddr(SB),NOSPLIT,$0-8
	LEAQ	·rawSigRestorer(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
