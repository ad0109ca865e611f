package audit

import (
	"os"
	"syscall"
)

// dataFile is the default log [File]: an *os.File whose Sync is
// fdatasync, which flushes the data and the metadata needed to read it
// back (the size and block map when they change), not timestamps.
type dataFile struct {
	*os.File
	raw syscall.RawConn
}

func openDataFile(path string) (File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &dataFile{File: f, raw: raw}, nil
}

func (f *dataFile) Sync() error {
	var serr error
	if err := f.raw.Control(func(fd uintptr) { serr = datasync(int(fd)) }); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

// truncateSync cuts the file at path to size and makes that durable.
func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
