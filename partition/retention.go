package partition

import "time"

// retentionLoop nudges every partition to apply retention now and then.
func (r *Registry) retentionLoop() {
	defer close(r.retainDone)
	if r.cfg.RetentionBytes == 0 && r.cfg.RetentionAge == 0 {
		<-r.retainStop
		return
	}
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
