#include "textflag.h"

// See sigraw_linux_amd64.s: write the signal number (R0), one byte, to
// rawSigFD, and return through rawSigRestorer (in LR, set by the kernel).
TEXT ·rawSigHandler(SB),NOSPLIT|NOFRAME,$0
	SUB	$16, RSP
	MOVB	R0, 0(RSP)
	MOVW	·rawSigFD(SB), R0
	MOVD	RSP, R1
	MOVD	$1, R2
	MOVD	$64, R8 // SYS_write
	SVC
	ADD	$16, RSP
	RET

TEXT ·rawSigRestorer(SB),NOSPLIT|NOFRAME,$0
	MOVD	$139, R8 // SYS_rt_sigreturn
	SVC
	BRK

// func rawSigHandlerAddr() uintptr
TEXT ·rawSigHandlerAddr(SB),NOSPLIT,$0-8
	MOVD	$·rawSigHandler(SB), R0
	MOVD	R0, ret+0(FP)
	RET

// func rawSigRestorerAddr() uintptr
TEXT ·rawSigRestorerAddr(SB),NOSPLIT,$0-8
	MOVD	$·rawSigRestorer(SB), R0
	MOVD	R0, ret+0(FP)
	RET
