// The project's one door to libpcsclite. Everything Swift cannot import directly is re-exported here.
#ifndef CPCSCLITE_SHIM_H
#define CPCSCLITE_SHIM_H
#include <winscard.h>
#include <reader.h>

// Address-of macros Swift does not import.
static inline const SCARD_IO_REQUEST *CPCSC_PCI_T0(void) { return SCARD_PCI_T0; }
static inline const SCARD_IO_REQUEST *CPCSC_PCI_T1(void) { return SCARD_PCI_T1; }
static inline const SCARD_IO_REQUEST *CPCSC_PCI_RAW(void) { return SCARD_PCI_RAW; }

// Expression macros Swift does not import.
static const DWORD CPCSC_MAX_BUFFER_SIZE_EXTENDED = MAX_BUFFER_SIZE_EXTENDED;
static const DWORD CPCSC_CM_IOCTL_GET_FEATURE_REQUEST = CM_IOCTL_GET_FEATURE_REQUEST;

#endif
