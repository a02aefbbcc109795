package partition

// unlock releases the data directory's lock (taken by lockDir, in
// lock_flock.go) by closing its file; Open's failure path and Close call it.
func (r *Registry) unlock() {
	if r.lockFile != nil {
		r.lockFile.Close()
		r.lockFile = nil
	}
}
