package partition

import "time"

// retentionLoop nudges every partition to apply retention and expire idle
// producer ids now and then; it runs without retention too, for the
// producers.
func (r *Registry) retentionLoop() {
	defer close(r.retainDone)
	t := time.NewTicker(r.cfg.RetentionCheck)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			for _, tp := range r.load() {
				for _, p := range tp.parts {
					p.retainc.Notify()
				}
			}
		case <-r.retainStop:
			return
		}
	}
}
