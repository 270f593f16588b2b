package jsstore

// LoseGiftAnswers makes the gift service throw away the acknowledgements of committed batches while
// lose returns true: the fault of a stream leader that dies right after it committed.
func (gs *GiftService) LoseGiftAnswers(lose func() bool) { gs.loseAnswer = lose }
