"""dnalib: the library behind the species-aware DNA embeddings book.

Modules (one idea each):

- :mod:`dnalib.sequences`  alphabet, 2-bit encoding, reverse complement, cleaning, fragmenting
- :mod:`dnalib.io`         FASTA/FASTQ reading, labelled genome sets, 16S references
- :mod:`dnalib.datasets`   registry of public datasets, downloads with checksums, local mirror
- :mod:`dnalib.simulate`   the synthetic microbial community with a known phylogeny
- :mod:`dnalib.kmers`      k-mer spectra and tetranucleotide frequencies
- :mod:`dnalib.tokenizers`  the four tokenization schemes as Hugging Face fast tokenizers
- :mod:`dnalib.models`     RoBERTa k-mer encoder configurations, pooling
- :mod:`dnalib.pretrain`   masked-language-model pretraining (resumable, DDP)
- :mod:`dnalib.losses`     the weighted SimCLR and MI-Mix losses (shared by both contrastive trainers)
- :mod:`dnalib.pairs`      positive pairs: groups of contigs and the pair sampler (shared likewise)
- :mod:`dnalib.contrastive` contrastive fine-tuning: weighted SimCLR, MI-Mix
- :mod:`dnalib.spectrum_map` a learned linear map of the k-mer spectrum, trained like the encoder
- :mod:`dnalib.artifacts`  named models shared between chapters, trained once and cached
- :mod:`dnalib.embedders`  one class per kind of model (k-mer baseline, spectrum map, transformer)
- :mod:`dnalib.inference`  how a transformer embeds: chunks, batches, pooling, bf16 or fp32
- :mod:`dnalib.embed`      embeddings of sequences of any length, in memory or streamed from a file
- :mod:`dnalib.evaluate`   evaluation protocols: clustering (ARI/NMI), taxonomic classification by rank
- :mod:`dnalib.viz`        projections, interactive plotly figures, the JupyterLab explorer
- :mod:`dnalib.exercises`  immediate feedback on exercises with a checkable answer
- :mod:`dnalib.classroom`  student copies of the chapters (``make student``)
- :mod:`dnalib.profiles`   run profiles: ``smoke``, ``cpu`` (default), ``hour``, ``gpu``
- :mod:`dnalib.cli`        the ``dnalib`` command line
"""

from dnalib.errors import DnalibError

__version__ = "0.1.0"

__all__ = ["DnalibError", "__version__"]
